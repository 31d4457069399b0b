"""``sspnet tile --data D --out OUT.json [--tile 640x512 --overlap 50]``: write a TinyPerson corner JSON."""
from __future__ import annotations

import argparse
import sys

from sspnet.data.detect_format import FORMATS, load_dataset
from sspnet.data.image_size import parse_wh
from sspnet.data.tile_dataset import tile_records
from sspnet.data.tinyperson import write_tinyperson_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset: JSON, data.yaml or folder")
    parser.add_argument("--out", required=True, help="output TinyPerson corner JSON")
    parser.add_argument("--format", choices=FORMATS, default=None, help="dataset format (default: detect)")
    parser.add_argument("--tile", type=parse_wh, default=(640, 512), help="tile WIDTHxHEIGHT (default 640x512)")
    parser.add_argument("--overlap", type=int, default=50, help="tile overlap in pixels (default 50)")
    parser.add_argument("--keep-ratio", type=float, default=0.7,
                        help="keep a box in a tile when sqrt(clipped/original area) >= this (default 0.7)")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.overlap < min(args.tile):
        print(f"sspnet tile: error: --overlap {args.overlap} must be >= 0 and smaller than the tile "
              f"{args.tile[0]}x{args.tile[1]}", file=sys.stderr)
        return 2
    print(f"tile: data={args.data} format={args.format or 'auto'} tile={args.tile[0]}x{args.tile[1]} "
          f"overlap={args.overlap} keep_ratio={args.keep_ratio} out={args.out}")
    try:
        records = load_dataset(args.data, args.format)
    except (FileNotFoundError, ValueError) as e:
        print(f"sspnet tile: error: {e}", file=sys.stderr)
        return 1
    tiles, stats = tile_records(records, args.tile, args.overlap, args.keep_ratio)
    write_tinyperson_json(tiles, args.out)
    print(f"{stats.images} images → {stats.tiles} tiles; {stats.boxes_in} boxes → {stats.boxes_kept} placements, "
          f"{stats.boxes_lost} boxes in no tile (keep rule); wrote {args.out}")
    return 0
