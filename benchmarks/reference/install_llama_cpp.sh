#!/usr/bin/env bash
# Installs llama-cpp-python (the reference of `learnat bench llm`) into a virtual environment.
#
#   install_llama_cpp.sh [VENV_DIR]      (default ~/.cache/learnat/llama-cpp-venv)
#
# It builds llama.cpp from source (~8 min on 2 cores, once). The processors of the learnat
# machines report AMX, and the default -march=native build crashed at the first decode there, so
# the build is explicitly AVX-512 (+VNNI, BF16) without AMX (see shared/models/README.md).
set -euo pipefail
venv="${1:-${HOME}/.cache/learnat/llama-cpp-venv}"
if [ -x "${venv}/bin/python" ] && "${venv}/bin/python" -c "import llama_cpp, numpy" 2>/dev/null; then
  echo "llama-cpp-python already installed in ${venv}" >&2
  exit 0
fi
python3 -m venv "${venv}"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
 -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON \
 -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
echo "building llama-cpp-python 0.3.36 in ${venv} (about 8 minutes on 2 cores)..." >&2
"${venv}/bin/pip" install --no-cache-dir --no-binary llama-cpp-python llama-cpp-python==0.3.36 numpy >&2
"${venv}/bin/python" -c "import llama_cpp; print(llama_cpp.__version__)" >&2
