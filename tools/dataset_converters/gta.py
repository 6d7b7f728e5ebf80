"""Convert GTA5 labels to Cityscapes trainIds and write the rare class
sampling statistics.

images/NNNNN.png + labels/NNNNN.png (Cityscapes label ids)
-> labels/NNNNN_labelTrainIds.png

Also writes the rare class statistics and the bad-sample report (see
below).
"""
import sys

from converter_utils import convert_gta, converter_main

if __name__ == '__main__':
    sys.exit(
        converter_main(__doc__, 'GTA5', convert_gta,
                       root_help='GTA5 dataset root'))
