#!/bin/sh
# tests/quality/quality_table.sh: the tiny-dense table of docs/QUALITY.md.
# usage: tests/quality/quality_table.sh QLOOP_BINARY SHARED_DIR WORK_DIR [WINDOWS]
# Every --type with and without an imatrix from train.txt, against the bf16 model on
# valid.txt (256-token windows; the first WINDOWS of them, default 200).
set -eu
Q=$1; S=$2; W=$3; N=${4:-200}
D=$S/models/tiny-dense; V=$S/data/corpus/valid.txt; T=$S/data/corpus/train.txt
mkdir -p "$W"
echo "# $Q perplexity -m $D -f $V --json"
"$Q" perplexity -m "$D" -f "$V" --json
echo "# $Q imatrix -m $D -f $T -o $W/train.imatrix --ctx 512 --chunks 200"
"$Q" imatrix -m "$D" -f "$T" -o "$W/train.imatrix" --ctx 512 --chunks 200 2>/dev/null
for t in q8_0 q4_0 q4_1 q4_k_s q4_k_m q5_k_m q6_k f16 bf16; do
  for im in no yes; do
    out=$W/td-$t.gguf; extra=""
    if [ $im = yes ]; then out=$W/td-$t-imatrix.gguf; extra="--imatrix $W/train.imatrix"; fi
    echo "# $Q quantize $D $out --type $t $extra"
    "$Q" quantize "$D" "$out" --type $t $extra 2>/dev/null
    echo "# $Q perplexity -m $out -f $V --chunks $N --kl-base $D --json   (size $(stat -c %s "$out"))"
    "$Q" perplexity -m "$out" -f "$V" --chunks "$N" --kl-base "$D" --json
  done
done
