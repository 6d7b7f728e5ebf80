#!/usr/bin/env bash
# Usage: [GPUS=8 GPUS_PER_NODE=8] tools/slurm_run.sh PARTITION JOB_NAME TOOL [args of tools/TOOL]
# The srun launch shared by slurm_train.sh and slurm_test.sh: GPUS tasks of
# tools/TOOL (train.py or test.py) with --launcher slurm; exits with the
# tools' exit code.
set -x

PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    $PYTHON -u "$(dirname "$0")/${TOOL}" "${@:4}"
