# Entry points. `make example` and `make test` are the README's two commands.
EXAMPLE ?= fixtures/media/unseen_talk_audio_late200.mp4

.PHONY: deps build example test bench bench-media clean

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

clean:
	rm -rf .build
