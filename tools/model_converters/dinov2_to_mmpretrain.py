"""Convert an official DINOv2 release checkpoint (facebookresearch/dinov2:
dinov2_vit{s,b,l,g}14_pretrain.pth) to the keys of mmpretrain's
VisionTransformer, the encoder of the configs in configs/vfm/.

    python tools/model_converters/dinov2_to_mmpretrain.py \\
        dinov2_vitb14_pretrain.pth pretrained/dinov2_vitb14.pth

The configs read pretrained/dinov2_vit{b,l}14.pth (docs/vfm.md). The key
table is in mmseg_uda/converters/dinov2.py; the file is loaded with
torch's weights-only unpickler (the release files hold tensors only).
"""
import argparse

import torch

from mmseg_uda.converters.dinov2 import convert_dinov2
from mmseg_uda.utils.io import atomic_open


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('src', help='DINOv2 release checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state, dropped = convert_dinov2(checkpoint)
    with atomic_open(args.dst) as f:
        torch.save(dict(state_dict=state), f)
    blocks = len({k.split('.')[1] for k in state if k.startswith('layers.')})
    width = state['cls_token'].shape[-1]
    print(f'converted {len(state)} tensors ({blocks} blocks, width {width}) '
          f'to {args.dst}; dropped {dropped or "nothing"}')


if __name__ == '__main__':
    main()
