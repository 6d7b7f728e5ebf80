"""Export the student (or teacher) of a UDA checkpoint as a plain mmseg
segmentor checkpoint, usable by mmseg's tools, ``init_model`` and
``MMSegInferencer`` without mmseg_uda's UDA wrapper.

Example:
    python tools/model_converters/uda2segmentor.py \
        configs/daformer/daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py \
        work_dirs/daformer/iter_40000.pth daformer_student.pth \
        --out-config daformer_student.py
"""
import argparse

import mmseg_uda  # noqa: F401  (registers the plugin, safe torch.load)
from mmseg_uda.converters.uda_export import export_segmentor


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the UDA training config')
    parser.add_argument('checkpoint', help='the UDA checkpoint')
    parser.add_argument('out', help='output segmentor checkpoint (.pth)')
    parser.add_argument(
        '--teacher', action='store_true', help='export the EMA teacher')
    parser.add_argument(
        '--out-config', help='also write the plain segmentor config here')
    args = parser.parse_args()
    which = 'teacher' if args.teacher else 'student'
    state = export_segmentor(args.config, args.checkpoint, args.out, which,
                             args.out_config)
    print(f'exported {len(state)} tensors of the {which} to {args.out}')


if __name__ == '__main__':
    main()
