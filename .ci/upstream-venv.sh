#!/usr/bin/env bash
# Creates a scratch venv holding the published minos-microservice-saga 0.7.0 (plus the minos packages it needs to
# execute), for black-box comparisons. Needs PyPI. usage: .ci/upstream-venv.sh DIR   (keep DIR out of git)
set -euo pipefail
dir=${1:?usage: $0 DIR}
python3 -m venv "$dir"
"$dir/bin/pip" install -q --upgrade pip
# minos-microservice-common 0.7.0 pins uvloop<0.17, which does not build on Python 3.11+: install the minos packages
# without their dependencies, then their dependencies with a current uvloop.
"$dir/bin/pip" install -q --no-deps minos-microservice-common==0.7.0 minos-microservice-networks==0.7.0 \
    minos-microservice-aggregate==0.7.0 minos-microservice-saga==0.7.0
"$dir/bin/pip" install -q "PyYAML>=5.4.1,<7" "aiomisc>=14.0.3,<15.8.0" "cached-property>=1.5.2,<2" \
    "dependency-injector>=4.32.2,<5" "fastavro>=1.4,<2" "orjson>=3.5.2,<4" "uvloop>=0.17" \
    "crontab>=0.23,<0.24" "setuptools<81"
(cd / && "$dir/bin/python" -c "import minos.saga; assert minos.saga.__version__ == '0.7.0'")
