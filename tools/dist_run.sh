#!/usr/bin/env bash
# Usage: tools/dist_run.sh TOOL GPUS [args of tools/TOOL, with --launcher pytorch]
# The launcher shared by dist_train.sh and dist_test.sh: GPUS processes of
# tools/TOOL (train.py or test.py) on this node through torch.distributed.run.
# NCCL on GPUs; on a machine without CUDA the same command runs CPU
# processes with gloo (set GPUS to the number of processes).
# Several nodes: run it on each node with NNODES, NODE_RANK (0 on the node
# of MASTER_ADDR), MASTER_ADDR and PORT (docs/train_test.md); GPUS is the
# number of processes of this node.
TOOL=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
$PYTHON -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/$TOOL" "${@:3}"
