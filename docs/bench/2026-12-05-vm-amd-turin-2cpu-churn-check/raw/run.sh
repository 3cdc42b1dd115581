#!/bin/bash
# alternated: shardpool vs channel (timed), ChurnGetRemove size 4096, 8 rounds
for i in 1 2 3 4 5 6 7 8; do
  if (( i % 2 )); then order="shardpool channel"; else order="channel shardpool"; fi
  for c in $order; do
    /tmp/bench.test -test.run '^$' -test.bench "ChurnGetRemove/pool=$c/size=4096\$" -test.benchmem -test.cpu 2 >> raw-$c.txt
  done
done
