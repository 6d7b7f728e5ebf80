"""Quick-start demo on CPU, no GPU and no downloads: generate synthetic
domain-shift data, train source-only and DAFormer (or HRDA/MIC with
``--method`` or ``UDA_METHOD``), print per-class IoU and mIoU of both on the
target val split, and write ``work_dirs/quickstart/figure.png`` and
``miou_curve.png``.

    python tools/quickstart.py                  # DAFormer, ~10 min
    python tools/quickstart.py --method hrda    # or UDA_METHOD=mic ...
    python tools/quickstart.py --iters 4 --val-interval 2 --num-vis 2 \\
        --work-dir work_dirs/quickstart_tiny    # smoke test
"""
import warnings

# mmcv-lite cannot import MultiScaleDeformableAttention (unused here).
warnings.filterwarnings('ignore', message='Fail to import ``MultiScale')

from mmseg_uda.apis.quickstart import main  # noqa: E402

if __name__ == '__main__':
    main()
