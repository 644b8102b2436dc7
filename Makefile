# Entry points. `make example` and `make test` are the README's two commands.
EXAMPLE ?= fixtures/media/unseen_talk_audio_late200.mp4

PREFIX ?= /usr/local

.PHONY: deps build example test bench bench-media bench-nn bench-dnnl install clean

deps:
	bash tools/install-deps.sh

build: deps
	swift build -c release

example: build
	.build/release/lipsync probe $(EXAMPLE)
	.build/release/lipsync offset $(EXAMPLE)
	.build/release/lipsync generate $(EXAMPLE) --audio fixtures/media/grid_talk.mp4 -o example-dub.mp4

# The second run repeats the convolution tests on the AVX2 kernel (an AVX-512 CPU otherwise only runs
# the AVX-512 one; on a CPU with neither both runs use im2col).
# The command-line tests run the release binary, built from the same sources: in a debug build the
# generator's training and painting run about ten times slower (LIPSYNC_CLI_BINARY, CLITests.swift).
test: deps
	swift build --build-tests
	swift build -c release --product lipsync
	LIPSYNC_CLI_BINARY=.build/release/lipsync swift test --skip-build
	LIPSYNC_DIRECT_CONV=1 swift test --skip-build --filter "DirectConvolutionTests|TorchParityTests|LaneConvolutionTests"

bench-media: deps
	bash tools/make_bench_media.sh

# The PyTorch peer for `lipsync-bench nn` and `generate` (PyPI's torch; nothing else is fetched).
tools/.venv/bin/python:
	python3 -m venv tools/.venv
	tools/.venv/bin/pip install -r tools/requirements-torch.txt

# Engine against PyTorch, both OpenBLAS settings issue 13 names (docs/benchmarks.md); under
# auto-detect the convolutions also run on oneDNN, in turn with the engine's kernels.
bench-nn: tools/.venv/bin/python
	swift build -c release
	env -u OPENBLAS_CORETYPE .build/release/lipsync-bench nn --runs 5 --backend both
	OPENBLAS_CORETYPE=Haswell .build/release/lipsync-bench nn --runs 5

# Every convolution of the four networks in LipSync's engine, then in oneDNN (Debian's libdnnl-dev,
# the library PyTorch's CPU convolutions use) on the same shapes; docs/engine.md has the reading.
bench-dnnl:
	dpkg -s libdnnl-dev >/dev/null 2>&1 || (apt-get update && apt-get install -y libdnnl-dev)
	swift build -c release
	mkdir -p bench-data
	cc -O2 -Wall -o bench-data/dnnl_conv_bench tools/dnnl_conv_bench.c -ldnnl
	env -u OPENBLAS_CORETYPE .build/release/lipsync-bench conv-layers --runs 5 --out bench-data/conv-layers.tsv
	OMP_NUM_THREADS=2 bench-data/dnnl_conv_bench bench-data/conv-layers.tsv --runs 5 --layout plain
	OMP_NUM_THREADS=2 bench-data/dnnl_conv_bench bench-data/conv-layers.tsv --runs 5 --layout blocked

bench: bench-media bench-nn bench-dnnl
	swift build -c release
	.build/release/lipsync-bench decode bench-data/grid720.mp4
	.build/release/lipsync-bench decode-memory bench-data/long1080.mp4
	LIPSYNC_THREADS=1 .build/release/lipsync-bench faces bench-data/grid360.mp4 --frames 300
	LIPSYNC_LANES=0 .build/release/lipsync-bench sync-windows
	.build/release/lipsync-bench sync-windows
	.build/release/lipsync-bench offset bench-data/grid360.mp4
	.build/release/lipsync-bench offset bench-data/grid720.mp4
	.build/release/lipsync-bench offset bench-data/long_talk.mp4 --full-only

# The binary with the Swift runtime linked in (it then needs only the Debian libraries
# tools/install-deps.sh installs), and the shipped models where it looks for them:
# PREFIX/share/lipsync/models beside PREFIX/bin ($$LIPSYNC_MODELS still wins).
install: deps
	swift build -c release --static-swift-stdlib --scratch-path .build/install
	install -d "$(PREFIX)/bin" "$(PREFIX)/share/lipsync/models"
	install -m 755 .build/install/release/lipsync "$(PREFIX)/bin/lipsync"
	install -m 644 Models/*.safetensors Models/*.md Models/MEDIAPIPE_LICENSE "$(PREFIX)/share/lipsync/models/"

clean:
	rm -rf .build
