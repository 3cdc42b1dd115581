module github.com/shardpool/shardpool/contrib/goredis

go 1.21

replace github.com/shardpool/shardpool => ../..

require (
	github.com/shardpool/shardpool v0.1.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/puzpuzpuz/xsync/v3 v3.5.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.30.0 // indirect
)
