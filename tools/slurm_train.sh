#!/usr/bin/env bash
# Usage: [GPUS=8 GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [args of tools/train.py]
#
# Fault tolerance (docs/fault_tolerance.md):
# - Auto-resume: --resume is passed unless AUTO_RESUME=0 (or --resume is
#   already given). It resumes from the newest complete checkpoint of the
#   work dir and starts from scratch when there is none, so a re-queued job
#   continues where it stopped.
# - Pre-emption: on SIGTERM every rank finishes its iteration, a checkpoint
#   is saved and the run exits with PREEMPT_EXIT_CODE (default 0, a clean
#   exit). Submit inside a batch job with `#SBATCH --requeue`: Slurm then
#   re-queues pre-empted jobs by itself and this script resumes them. To
#   continue also after the time limit, add `#SBATCH --signal=TERM@180`
#   (SIGTERM to the job steps 3 minutes before the limit) and set
#   PREEMPT_EXIT_CODE to a non-zero code (e.g. 75): when the run stops with
#   it, this script calls `scontrol requeue $SLURM_JOB_ID`.
# The srun launch itself (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS) is
# tools/slurm_run.sh.
set -x

AUTO_RESUME=${AUTO_RESUME:-1}
PREEMPT_EXIT_CODE=${PREEMPT_EXIT_CODE:-0}
PY_ARGS=("${@:4}")  # $1-$3: PARTITION JOB_NAME CONFIG

RESUME_ARG=""
if [ "${AUTO_RESUME}" = "1" ]; then
    RESUME_ARG="--resume"
    for arg in "${PY_ARGS[@]}"; do
        if [ "${arg}" = "--resume" ]; then
            RESUME_ARG=""
        fi
    done
fi

MMSEG_UDA_PREEMPT_EXIT_CODE=${PREEMPT_EXIT_CODE} \
bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" train.py \
    "$3" --launcher="slurm" ${RESUME_ARG} "${PY_ARGS[@]}"
RC=$?

if [ "${PREEMPT_EXIT_CODE}" != "0" ] && [ "${RC}" = "${PREEMPT_EXIT_CODE}" ] \
        && [ -n "${SLURM_JOB_ID}" ]; then
    echo "Training was pre-empted (exit code ${RC}): re-queueing job ${SLURM_JOB_ID}"
    scontrol requeue "${SLURM_JOB_ID}" || true
    exit 0
fi
exit ${RC}
