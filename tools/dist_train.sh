#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [args of tools/train.py]
# NCCL on GPUs; on a machine without CUDA the same command runs CPU
# processes with gloo (set GPUS to the number of processes).
# Several nodes: run it on each node with NNODES, NODE_RANK (0 on the node
# of MASTER_ADDR), MASTER_ADDR and PORT (docs/train_test.md); GPUS is the
# number of processes of this node. The launch itself is tools/dist_run.sh.
exec bash "$(dirname "$0")/dist_run.sh" train.py "$2" "$1" --launcher pytorch "${@:3}"
