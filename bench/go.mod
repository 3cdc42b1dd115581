module github.com/shardpool/shardpool/bench

go 1.26.0

replace github.com/shardpool/shardpool => ../

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/jackc/puddle/v2 v2.2.3
	github.com/redis/go-redis/v9 v9.23.0
	github.com/shardpool/shardpool v0.0.0-00010101000000-000000000000
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
