#!/bin/bash
# 8 rounds, alternating which build goes first.
pat='ExhaustionWait/pool=(shardpool|channel)/size=8/goroutines=(16|64)x/caller=spins$'
for i in 1 2 3 4 5 6 7 8; do
  if (( i % 2 )); then order="before after"; else order="after before"; fi
  for b in $order; do
    /tmp/sat-$b.test -test.run '^$' -test.bench "$pat" -test.benchtime 500ms -test.count 1 >> $b.txt
  done
done
