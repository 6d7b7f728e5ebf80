"""Convert a DAFormer / HRDA / MIC checkpoint trained with the reference code
(mmseg 0.16) into a checkpoint of mmseg_uda.

    CONFIGS=configs/reference
    # plain segmentor (student; what the reference evaluates) for tools/test.py
    python tools/model_converters/reference_uda2mmseg.py \\
        iter_40000_relevant.pth daformer_gta2cs.pth \\
        --verify-config $CONFIGS/daformer-ref_mitb5_gta2cityscapes-1024x512.py
    # full UDA model (student, teacher, ImageNet backbone) to train on
    python tools/model_converters/reference_uda2mmseg.py iter_40000.pth \\
        daformer_gta2cs_uda.pth --target uda --verify-config \\
        $CONFIGS/daformer-ref_mitb5_1xb2-40k_gta2cityscapes-512x512.py

The report lists the layout found and every key dropped, with the reason.
Files this tool does not recognise are refused with the keys it did not
understand. See docs/reference_checkpoints.md.
"""
import argparse
import sys

import torch
from mmengine.config import DictAction

from mmseg_uda.converters.reference_checkpoint import (
    ReferenceCheckpointError,
    convert_reference_checkpoint,
    load_reference_file,
    verify_with_config,
)
from mmseg_uda.utils.io import atomic_open


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('src', help='reference checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--target',
        choices=['segmentor', 'uda'],
        default='segmentor',
        help='segmentor: backbone.*/decode_head.* for EncoderDecoder or '
        'HRDAEncoderDecoder configs; uda: student.*/teacher.*/'
        'imnet_backbone.* for DACS configs (default: segmentor)')
    parser.add_argument(
        '--model',
        choices=['student', 'teacher'],
        default='student',
        help='--target segmentor: convert the student (model.*, default, '
        'what the reference evaluates) or the EMA teacher (ema_model.*)')
    imnet = parser.add_mutually_exclusive_group()
    imnet.add_argument(
        '--imnet-backbone',
        metavar='FILE',
        help='--target uda: ImageNet MiT weights (SegFormer mit_b5.pth or '
        'its mmseg conversion) for imnet_backbone, when the file has no '
        'imnet_model.*')
    imnet.add_argument(
        '--no-imnet',
        action='store_true',
        help='--target uda: no imnet_backbone (configs without the ImageNet '
        'feature distance)')
    parser.add_argument(
        '--teacher-from-student',
        action='store_true',
        help='--target uda: initialise the teacher with the student when the '
        'file has no ema_model.* (published / domain-generalisation files)')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='unpickle everything (torch.load weights_only=False). Only for '
        'files from a trusted source: unpickling can execute code')
    parser.add_argument(
        '--verify-config',
        metavar='CONFIG',
        help='build this config\'s model and load the result with '
        'strict=True before writing it')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides of --verify-config, key=value pairs')
    parser.add_argument(
        '--brief',
        action='store_true',
        help='list at most 5 dropped keys per reason')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        checkpoint = load_reference_file(args.src, args.unsafe_load)
        imnet, imnet_state = 'checkpoint', None
        if args.no_imnet:
            imnet = 'none'
        elif args.imnet_backbone:
            imnet = 'file'
            imnet_state = load_reference_file(args.imnet_backbone,
                                              args.unsafe_load)
        converted, report = convert_reference_checkpoint(
            checkpoint,
            target=args.target,
            model=args.model,
            imnet=imnet,
            imnet_state=imnet_state,
            teacher_from_student=args.teacher_from_student,
            source=args.src)
        print(report.format(list_all=not args.brief))
        if args.verify_config:
            print('verify:       ' + verify_with_config(
                converted['state_dict'], args.verify_config,
                args.cfg_options))
    except (ReferenceCheckpointError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    with atomic_open(args.dst) as f:
        torch.save(converted, f)
    print(f'written:      {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
