#!/usr/bin/env bash
# Make .devbundle/ for training/gpu/multitask_run.sh and say whether the call fits the device tool's
# 64 MiB: ../shared/tools/device-bundle (wheels, fp16 backbone, data), then the CSVs gzipped
# (61 -> ~53 MB). The model folders under assets/models are tracked and too big to travel beside
# it: training/README.md says how to leave them out of that one call.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d .devbundle/backbone ] || bash ../shared/tools/device-bundle
find .devbundle/data -name '*.csv' -exec gzip -f -9 {} +
bundle=$(du -sb .devbundle | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
models=$(git ls-files -z -- assets/models | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$( (git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1) || echo 0)
mib() { echo "$(( $1 / 1048576 )).$(( ($1 % 1048576) * 10 / 1048576 ))"; }
echo ".devbundle $(mib "$bundle") MiB; tracked files $(mib "$tracked") MiB (assets/models $(mib "$models") MiB); untracked, not ignored $(mib "${untracked:-0}") MiB"
echo "with assets/models left out, the call carries $(mib $(( bundle + tracked - models + ${untracked:-0} ))) MiB of 64"
