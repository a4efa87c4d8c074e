//! The capture-time strip used to measure glass-to-glass latency: each raw
//! frame gets, in its top-left corner, 34 cells of 16x16 pixels: a white and
//! a black calibration cell, then bits 31..0 of the capture time in units of
//! 100 µs since the Unix epoch (mod 2^32), white for 1. The browser reads it
//! back when the frame is presented (`web/src/player/measure/stamp.ts`).

use std::time::{SystemTime, UNIX_EPOCH};

use gst::prelude::*;
use gst_video::prelude::*;

pub const CELL: usize = 16;
pub const CELLS: usize = 34;
const WHITE: u8 = 235;
const BLACK: u8 = 16;
const CHROMA_NEUTRAL: u8 = 128;

/// Capture time now, in the strip's units.
pub fn now_ticks() -> u32 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_micros() / 100) as u32
}

/// Stamps every buffer passing `pad` (raw video, I420 or NV12).
pub fn install(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
        let Some(caps) = pad.current_caps() else { return gst::PadProbeReturn::Ok };
        let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else { return gst::PadProbeReturn::Ok };
        if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
            let buffer = buffer.make_mut();
            if let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &vinfo) {
                draw(&mut frame, now_ticks());
            }
        }
        gst::PadProbeReturn::Ok
    });
}

fn draw(frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>, ticks: u32) {
    let format = frame.format();
    if !matches!(format, gst_video::VideoFormat::I420 | gst_video::VideoFormat::Nv12) {
        return;
    }
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    if w < CELLS * CELL || h < CELL {
        return;
    }
    let bits = |cell: usize| match cell {
        0 => true,
        1 => false,
        n => ticks >> (31 - (n - 2)) & 1 == 1,
    };
    let stride = frame.plane_stride()[0] as usize;
    if let Ok(luma) = frame.plane_data_mut(0) {
        for y in 0..CELL {
            let row = &mut luma[y * stride..y * stride + CELLS * CELL];
            for (x, px) in row.iter_mut().enumerate() {
                *px = if bits(x / CELL) { WHITE } else { BLACK };
            }
        }
    }
    // Neutral chroma keeps the cells grey-scale after encoding.
    let chroma_planes: &[u32] = if format == gst_video::VideoFormat::I420 { &[1, 2] } else { &[1] };
    for &p in chroma_planes {
        let stride = frame.plane_stride()[p as usize] as usize;
        let width = if format == gst_video::VideoFormat::I420 { CELLS * CELL / 2 } else { CELLS * CELL };
        if let Ok(data) = frame.plane_data_mut(p) {
            for y in 0..CELL / 2 {
                data[y * stride..y * stride + width].fill(CHROMA_NEUTRAL);
            }
        }
    }
}

/// Reads the strip back from an I420/NV12 luma plane (tests and tools).
pub fn read(luma: &[u8], stride: usize) -> Option<u32> {
    let sample = |cell: usize| {
        let (x, y) = (cell * CELL + CELL / 2, CELL / 2);
        luma.get(y * stride + x).copied().unwrap_or(0)
    };
    let (white, black) = (sample(0), sample(1));
    if white <= black.saturating_add(64) {
        return None;
    }
    let mid = (white as u16 + black as u16) / 2;
    Some((2..CELLS).fold(0u32, |acc, c| acc << 1 | (sample(c) as u16 > mid) as u32))
}
