#!/usr/bin/env bash
# Unpacks the meshes and point sets of CGAL's example data (Debian package libcgal-demo) into
# a folder, for tests and demos:  scripts/cgal_data.sh [DIR]   (default: build/cgal-data)
#   shapediff data import --meshes build/cgal-data/meshes --out data/cgal
set -euo pipefail
archive=/usr/share/doc/libcgal-dev/data.tar.gz
dir=${1:-build/cgal-data}
[[ -f $archive ]] || { echo "cgal_data: $archive missing (apt-get install libcgal-demo)" >&2; exit 2; }
mkdir -p "$dir"
tar -xzf "$archive" -C "$dir" --strip-components=1 --wildcards \
  'data/meshes/*.off' 'data/meshes/*.ply' 'data/meshes/*.obj' 'data/meshes/*.stl' \
  'data/points_3/*.xyz' 'data/points_3/*.ply' 2>/dev/null || true
echo "cgal_data: $(find "$dir" -type f | wc -l) files in $dir"
