#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [args of tools/test.py]
# NCCL on GPUs; on a machine without CUDA the same command runs CPU
# processes with gloo (set GPUS to the number of processes). The launch
# itself (NNODES, NODE_RANK, MASTER_ADDR, PORT) is tools/dist_run.sh.
exec bash "$(dirname "$0")/dist_run.sh" test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
