#!/usr/bin/env python3
"""Pictures of point clouds for docs and quick looks: a grid of tiles, one per cloud.

Reads an NPZ holding a float32 array `points` [K,N,3] (what `shapediff sample` writes as
samples.npz, or a trajectory.npz's `x`/`x0` [F,K,N,3] with --frames) and draws each cloud seen
from the front right and a little above (+Y up), orthographic, as small dots shaded by depth.
Standard library only.

    python3 scripts/render_points.py RUN/samples/samples.npz docs/images/samples.png --columns 8
    python3 scripts/render_points.py out/trajectory.npz traj.png --array x --shape 0
"""

import argparse
import math
import os
import struct
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from render_shapes import write_png  # noqa: E402


def read_npy(data):
    if data[:6] != b"\x93NUMPY":
        raise ValueError("not an .npy member")
    major = data[6]
    header_len = struct.unpack("<H", data[8:10])[0] if major == 1 else struct.unpack("<I", data[8:12])[0]
    start = 10 if major == 1 else 12
    header = eval(data[start:start + header_len].decode("latin1"), {"__builtins__": {}})  # numpy's dict literal
    if header["descr"] != "<f4" or header["fortran_order"]:
        raise ValueError("expected little-endian float32 in C order, got %s" % header["descr"])
    shape = header["shape"]
    count = 1
    for s in shape:
        count *= s
    values = struct.unpack("<%df" % count, data[start + header_len:start + header_len + 4 * count])
    return shape, values


def render_cloud(points, size, azimuth, elevation):
    ca, sa = math.cos(math.radians(azimuth)), math.sin(math.radians(azimuth))
    ce, se = math.cos(math.radians(elevation)), math.sin(math.radians(elevation))
    projected = []
    for x, y, z in points:
        x1, z1 = ca * x + sa * z, -sa * x + ca * z     # turn about +Y
        y2, z2 = ce * y - se * z1, se * y + ce * z1    # tilt towards the viewer
        projected.append((x1, y2, z2))
    extent = max(max(abs(p[0]), abs(p[1])) for p in projected) or 1.0
    zs = [p[2] for p in projected]
    zmin, zmax = min(zs), max(zs)
    depth = [float("-inf")] * (size * size)
    rgb = bytearray([255] * (size * size * 3))
    scale = (size / 2 - 3) / extent
    for x, y, z in projected:
        px = int(size / 2 + x * scale)
        py = int(size / 2 - y * scale)
        near = (z - zmin) / (zmax - zmin) if zmax > zmin else 0.5
        shade = (int(40 + 120 * (1 - near)), int(80 + 100 * (1 - near)), int(170 + 60 * (1 - near)))
        for dy in (0, 1):
            for dx in (0, 1):
                u, v = px + dx, py + dy
                if 0 <= u < size and 0 <= v < size and z > depth[v * size + u]:
                    depth[v * size + u] = z
                    rgb[3 * (v * size + u):3 * (v * size + u) + 3] = bytes(shade)
    return rgb


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("npz", help="samples.npz (points [K,N,3]) or trajectory.npz")
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("--array", default="points", help="array name (trajectory: x or x0)")
    parser.add_argument("--shape", type=int, help="trajectory only: draw every frame of this shape")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--tile", type=int, default=160, help="pixels per cloud")
    parser.add_argument("--limit", type=int, default=64, help="at most this many clouds")
    parser.add_argument("--azimuth", type=float, default=35.0)
    parser.add_argument("--elevation", type=float, default=20.0)
    args = parser.parse_args()

    with zipfile.ZipFile(args.npz) as z:
        shape, values = read_npy(z.read(args.array + ".npy"))
    if len(shape) == 4:
        if args.shape is None:
            sys.exit("%s: %s is [F,K,N,3]; pass --shape K to draw one shape's frames" % (args.npz, args.array))
        f, k, n, _ = shape
        clouds = [[values[((fi * k + args.shape) * n + i) * 3:((fi * k + args.shape) * n + i) * 3 + 3]
                   for i in range(n)] for fi in range(f)]
    elif len(shape) == 3:
        k, n, _ = shape
        clouds = [[values[(c * n + i) * 3:(c * n + i) * 3 + 3] for i in range(n)] for c in range(k)]
    else:
        sys.exit("%s: %s has shape %s, expected [K,N,3] or [F,K,N,3]" % (args.npz, args.array, shape))
    clouds = clouds[:args.limit]
    cols = min(args.columns, len(clouds))
    rows = (len(clouds) + cols - 1) // cols
    t = args.tile
    width, height = cols * t, rows * t
    image = bytearray([255] * (width * height * 3))
    for idx, cloud in enumerate(clouds):
        tile = render_cloud(cloud, t, args.azimuth, args.elevation)
        ox, oy = (idx % cols) * t, (idx // cols) * t
        for y in range(t):
            row = (oy + y) * width + ox
            image[3 * row:3 * (row + t)] = tile[3 * y * t:3 * (y + 1) * t]
    write_png(args.output, width, height, image)


if __name__ == "__main__":
    main()
