#!/usr/bin/env bash
# Usage: [GPUS=8] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args of tools/test.py]
# The srun launch itself (GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS) is
# tools/slurm_run.sh.
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" test.py "$3" "$4" --launcher="slurm" "${@:5}"
