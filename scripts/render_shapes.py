#!/usr/bin/env python3
"""Software rasterizer for the procedural shape pictures in docs/shape_families.md.

Reads OBJ triangle meshes (vertices and triangular faces only, unit-cube normalised, +Y up,
+Z front) and writes one PNG strip per family: the meshes side by side, seen from the front
right and a little above, flat shaded (one colour per triangle), back faces culled so an
inside-out mesh shows up as a hole. Standard library only (zlib + struct write the PNG).

    SHAPEDIFF_GALLERY_DIR=/tmp/gallery build/tests/shapediff_shapes_tests \
        --gtest_filter='ShapeFamilies.GalleryWhenAsked'
    python3 scripts/render_shapes.py /tmp/gallery docs/images
"""

import argparse
import math
import os
import re
import struct
import sys
import zlib


def read_obj(path):
    vertices, faces = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("v "):
                _, x, y, z = line.split()[:4]
                vertices.append((float(x), float(y), float(z)))
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) - 1 for tok in line.split()[1:]]
                for k in range(1, len(idx) - 1):
                    faces.append((idx[0], idx[k], idx[k + 1]))
    return vertices, faces


def normalize(v):
    n = math.sqrt(sum(c * c for c in v))
    return tuple(c / n for c in v)


def cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


class Camera:
    """Orthographic camera on a sphere around the origin, looking at it, +Y up."""

    def __init__(self, azimuth_deg, elevation_deg):
        az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
        self.eye = (math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el))
        forward = tuple(-c for c in self.eye)
        self.right = normalize(cross(forward, (0.0, 1.0, 0.0)))
        self.up = cross(self.right, forward)


def render(vertices, faces, camera, size, color):
    """Returns rows of RGB bytes (size x size), white background."""
    px = [dot(v, camera.right) for v in vertices]
    py = [dot(v, camera.up) for v in vertices]
    pz = [dot(v, camera.eye) for v in vertices]
    x0, x1, y0, y1 = min(px), max(px), min(py), max(py)
    scale = 0.9 * size / max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx = [(x - cx) * scale + size / 2 for x in px]
    sy = [size / 2 - (y - cy) * scale for y in py]

    key = normalize(tuple(e + o for e, o in zip(camera.eye, (0.4, 1.2, 0.3))))
    fill = normalize(tuple(e + o for e, o in zip(camera.eye, (-1.0, -0.2, 0.4))))
    depth = [-1e30] * (size * size)
    image = bytearray(b"\xff" * (size * size * 3))
    for a, b, c in faces:
        va, vb, vc = vertices[a], vertices[b], vertices[c]
        n = cross(tuple(q - p for p, q in zip(va, vb)), tuple(q - p for p, q in zip(va, vc)))
        length = math.sqrt(dot(n, n))
        if length == 0.0:
            continue
        n = tuple(k / length for k in n)
        if dot(n, camera.eye) <= 0.0:
            continue
        shade = 0.22 + 0.68 * max(0.0, dot(n, key)) + 0.18 * max(0.0, dot(n, fill))
        rgb = bytes(min(255, int(ch * shade)) for ch in color)
        ax, ay, bx, by, qx, qy = sx[a], sy[a], sx[b], sy[b], sx[c], sy[c]
        area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
        if area == 0.0:
            continue
        za, zb, zc = pz[a], pz[b], pz[c]
        lo_x = max(0, int(math.floor(min(ax, bx, qx))))
        hi_x = min(size - 1, int(math.ceil(max(ax, bx, qx))))
        lo_y = max(0, int(math.floor(min(ay, by, qy))))
        hi_y = min(size - 1, int(math.ceil(max(ay, by, qy))))
        inv = 1.0 / area
        for y in range(lo_y, hi_y + 1):
            fy = y + 0.5
            for x in range(lo_x, hi_x + 1):
                fx = x + 0.5
                w0 = ((bx - fx) * (qy - fy) - (by - fy) * (qx - fx)) * inv
                w1 = ((qx - fx) * (ay - fy) - (qy - fy) * (ax - fx)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                    continue
                z = w0 * za + w1 * zb + w2 * zc
                i = y * size + x
                if z > depth[i]:
                    depth[i] = z
                    image[3 * i:3 * i + 3] = rgb
    return image


def downsample(image, size, factor):
    """Box filter: size x size RGB -> (size / factor)^2, for anti-aliased edges."""
    out_size = size // factor
    out = bytearray(out_size * out_size * 3)
    count = factor * factor
    for y in range(out_size):
        for x in range(out_size):
            acc = [0, 0, 0]
            for dy in range(factor):
                row = ((y * factor + dy) * size + x * factor) * 3
                for dx in range(factor):
                    k = row + dx * 3
                    acc[0] += image[k]
                    acc[1] += image[k + 1]
                    acc[2] += image[k + 2]
            o = (y * out_size + x) * 3
            out[o:o + 3] = bytes(v // count for v in acc)
    return out


def write_png(path, width, height, rgb):
    raw = bytearray()
    stride = width * 3
    for y in range(height):
        raw.append(0)
        raw.extend(rgb[y * stride:(y + 1) * stride])

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("meshes", help="folder of <family>_<index>.obj files")
    parser.add_argument("output", help="folder for <family>.png")
    parser.add_argument("--tile", type=int, default=200, help="pixels per shape")
    parser.add_argument("--supersample", type=int, default=2)
    parser.add_argument("--azimuth", type=float, default=35.0, help="degrees from +z towards +x")
    parser.add_argument("--elevation", type=float, default=20.0)
    parser.add_argument("--families", nargs="*", help="only these families")
    args = parser.parse_args()

    groups = {}
    for name in sorted(os.listdir(args.meshes)):
        m = re.fullmatch(r"([a-z]+)_(\d+)\.obj", name)
        if m:
            groups.setdefault(m.group(1), []).append((int(m.group(2)), name))
    if not groups:
        sys.exit(f"render_shapes: no <family>_<index>.obj files in {args.meshes}")
    os.makedirs(args.output, exist_ok=True)
    camera = Camera(args.azimuth, args.elevation)
    big = args.tile * args.supersample
    color = (150, 185, 230)
    for family, entries in sorted(groups.items()):
        if args.families and family not in args.families:
            continue
        tiles = []
        for _, name in sorted(entries):
            vertices, faces = read_obj(os.path.join(args.meshes, name))
            tile = render(vertices, faces, camera, big, color)
            tiles.append(downsample(tile, big, args.supersample))
        width, height = args.tile * len(tiles), args.tile
        strip = bytearray(width * height * 3)
        for t, tile in enumerate(tiles):
            for y in range(height):
                src = tile[y * args.tile * 3:(y + 1) * args.tile * 3]
                o = (y * width + t * args.tile) * 3
                strip[o:o + len(src)] = src
        out = os.path.join(args.output, f"{family}.png")
        write_png(out, width, height, strip)
        print(f"{out}: {len(tiles)} shapes, {os.path.getsize(out) // 1024} KB")


if __name__ == "__main__":
    main()
