#!/bin/bash
cd /tmp/hp
: > old.txt; : > new.txt
for i in $(seq 8); do
  ./old.test -test.run '^$' -test.bench 'BenchmarkGetPut$/pool=shardpool/size=32|BenchmarkGetPutCapacityOptions/options=unset' -test.cpu 2,32 -test.count 1 -test.benchtime 300ms >> old.txt
  ./new.test -test.run '^$' -test.bench 'BenchmarkGetPut$/pool=shardpool/size=32|BenchmarkGetPutCapacityOptions/options=(unset|OnConnect)' -test.cpu 2,32 -test.count 1 -test.benchtime 300ms >> new.txt
done
echo done > done
