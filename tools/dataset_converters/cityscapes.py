"""Convert Cityscapes labels to Cityscapes trainIds and write the rare class
sampling statistics.

gtFine/<split>/<city>/*_gtFine_polygons.json
-> *_gtFine_labelTrainIds.png (cityscapesscripts)

Also writes the rare class statistics and the bad-sample report (see
below).
"""
import sys

from converter_utils import convert_cityscapes, converter_main

if __name__ == '__main__':
    sys.exit(
        converter_main(__doc__, 'Cityscapes', convert_cityscapes,
                       root_help='Cityscapes dataset root'))
