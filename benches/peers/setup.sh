#!/usr/bin/env bash
# Creates the peer frameworks' environments for benches/peers.sh, kept apart so that their pins never meet:
#   DIR/venv-jax   jax[cpu], numpy, pandas
#   DIR/venv-tf    tensorflow-cpu (with Keras 3), pandas, scikit-learn
#   PyTorch        Debian's python3-torch on the system Python (/usr/bin/python3), installed with apt when missing
# An environment that works already is kept. DIR should be outside the repository (say /work/scratch/peers): the
# environments are large and none of them is a galen dependency.
# Usage: benches/peers/setup.sh DIR
set -uo pipefail
dir="${1:?usage: benches/peers/setup.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
python="${PEERS_PYTHON:-python3}"
status=0

make_venv() { # NAME CHECK PACKAGES...
  local name="$1" check="$2"
  shift 2
  local venv="$dir/$name"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "$name: present"
    return 0
  fi
  echo "$name: creating with $*"
  "$python" -m venv "$venv" && "$venv/bin/pip" install --quiet --upgrade pip && "$venv/bin/pip" install --quiet "$@"
}

make_venv venv-jax "import jax, numpy, pandas" "jax[cpu]" numpy pandas || { echo "venv-jax: failed"; status=1; }
make_venv venv-tf "import tensorflow, sklearn" tensorflow-cpu pandas scikit-learn || {
  echo "venv-tf: failed"
  status=1
}

if /usr/bin/python3 -c "import torch, pandas, sklearn" >/dev/null 2>&1; then
  echo "torch (system python): present"
else
  echo "torch (system python): installing python3-torch python3-pandas python3-sklearn with apt"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-pandas \
    python3-sklearn >/dev/null; } || { echo "torch: failed"; status=1; }
fi

echo "versions:"
"$dir/venv-jax/bin/python" -c "import jax, jaxlib, numpy; print('  jax', jax.__version__, 'jaxlib', jaxlib.__version__, \
'numpy', numpy.__version__)" 2>/dev/null || echo "  jax: n/a"
"$dir/venv-tf/bin/python" -c "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf, keras; \
print('  tensorflow', tf.__version__, 'keras', keras.__version__)" 2>/dev/null || echo "  tensorflow: n/a"
/usr/bin/python3 -c "import torch, numpy; print('  torch', torch.__version__, 'numpy', numpy.__version__)" \
  2>/dev/null || echo "  torch: n/a"
exit "$status"
