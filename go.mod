module github.com/shardpool/shardpool

go 1.21
