module github.com/shardpool/shardpool/contrib/goredis

go 1.26.0

replace github.com/shardpool/shardpool => ../..
