#!/bin/sh
# Regenerates the *_pb2.py modules. protoc comes from grpcio-tools in a scratch
# venv outside the repo (gencode must not be newer than the pinned runtime):
#   python3 -m venv /tmp/gentools && /tmp/gentools/bin/pip install grpcio-tools==1.85.1
#   sh profiler/formats/proto/generate.sh /tmp/gentools/bin/python
set -eu
PY=${1:-python3}
cd "$(dirname "$0")/../../.."
$PY -m grpc_tools.protoc -I . --python_out=. profiler/formats/proto/*.proto
