#ifndef LIPSYNC_CFFMPEG_SHIM_H
#define LIPSYNC_CFFMPEG_SHIM_H
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

// Function-like macros Swift cannot import.
static inline int lipsync_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int lipsync_averror_eof(void) { return AVERROR_EOF; }
static inline int lipsync_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int64_t lipsync_nopts(void) { return AV_NOPTS_VALUE; }
static inline int lipsync_time_base(void) { return AV_TIME_BASE; }
#endif
