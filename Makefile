# Entry points. `make example` and `make test` are the README's two commands.
EXAMPLE ?= fixtures/media/unseen_talk_audio_late200.mp4

PREFIX ?= /usr/local

.PHONY: deps build example test bench bench-media install clean

deps:
	bash tools/install-deps.sh

build: deps
	swift build -c release

example: build
	.build/release/lipsync probe $(EXAMPLE)
	.build/release/lipsync offset $(EXAMPLE)
	.build/release/lipsync generate $(EXAMPLE) --audio fixtures/media/grid_talk.mp4 -o example-dub.mp4

test: deps
	swift build --build-tests
	swift test --skip-build

bench-media: deps
	bash tools/make_bench_media.sh

bench: bench-media
	swift build -c release
	.build/release/lipsync-bench decode bench-data/grid720.mp4
	.build/release/lipsync-bench decode-memory bench-data/long1080.mp4
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
