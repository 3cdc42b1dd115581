module github.com/shardpool/shardpool

go 1.21

require go.uber.org/goleak v1.3.0

require github.com/puzpuzpuz/xsync/v3 v3.5.1

require golang.org/x/sys v0.30.0 // indirect

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
