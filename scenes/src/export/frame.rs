//! A camera message made into an image a browser shows: a raw
//! `sensor_msgs/Image` in the common encodings, or a `CompressedImage`
//! holding a JPEG or PNG, scaled down to at most [`MAX_WIDTH`] pixels wide
//! and encoded as JPEG. Anything else is an error saying what it is, which
//! the report prints in place of the frame.
//!
//! The codecs are image-rs's own small crates (`zune-jpeg`, `png`,
//! `jpeg-encoder`) rather than the `image` crate over them: `image` and its
//! colour management were a fifth of a first release build's time, for
//! three calls. The downscale (an area average) is written here.

use std::io::Cursor;

use crate::export::report::Frame;

/// Widest frame kept in a report, in pixels: enough to see a box, small
/// enough that a report of a hundred scenes stays a few megabytes.
pub const MAX_WIDTH: u32 = 960;
/// JPEG quality of the frames.
const QUALITY: u8 = 80;
/// Largest image accepted, in pixels (a 16k x 16k frame).
const MAX_PIXELS: u64 = 1 << 28;

/// A `sensor_msgs/Image`'s fields.
#[derive(Debug, Clone, Copy)]
pub struct RawImage<'a> {
    pub width: u32,
    pub height: u32,
    pub encoding: &'a str,
    pub big_endian: bool,
    /// Bytes per row.
    pub step: u32,
    pub data: &'a [u8],
}

/// The encodings [`from_raw`] draws.
pub const RAW_ENCODINGS: &[&str] = &[
    "rgb8",
    "rgba8",
    "bgr8",
    "bgra8",
    "mono8",
    "8UC1",
    "8UC3",
    "8UC4",
    "mono16",
    "16UC1",
    "yuv422",
    "uyvy",
    "yuv422_yuy2",
    "yuyv",
    "bayer_rggb8",
    "bayer_bggr8",
    "bayer_gbrg8",
    "bayer_grbg8",
];

/// An RGB image, 3 bytes per pixel, rows packed.
struct Rgb {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Rgb {
    fn from_fn(width: u32, height: u32, mut f: impl FnMut(u32, u32) -> [u8; 3]) -> Rgb {
        let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
        for y in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(&f(x, y));
            }
        }
        Rgb {
            width,
            height,
            pixels,
        }
    }
}

/// A raw image as a frame, or why it cannot be drawn.
pub fn from_raw(img: &RawImage<'_>, time_ns: i64) -> Result<Frame, String> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Err(format!("the image is {w}x{h}"));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("the image is {w}x{h}, too large to draw"));
    }
    let bpp: u32 = match img.encoding {
        "rgb8" | "bgr8" | "8UC3" => 3,
        "rgba8" | "bgra8" | "8UC4" => 4,
        "mono8" | "8UC1" | "bayer_rggb8" | "bayer_bggr8" | "bayer_gbrg8" | "bayer_grbg8" => 1,
        "mono16" | "16UC1" | "yuv422" | "uyvy" | "yuv422_yuy2" | "yuyv" => 2,
        other => {
            return Err(format!(
                "encoding {other:?} is not drawn (drawn: {})",
                RAW_ENCODINGS.join(", ")
            ));
        }
    };
    let row = w as usize * bpp as usize;
    let step = img.step as usize;
    if step < row {
        return Err(format!(
            "step {step} is shorter than a row of {w} {} pixels",
            img.encoding
        ));
    }
    let need = step * (h as usize - 1) + row;
    if img.data.len() < need {
        return Err(format!(
            "{} bytes of data, a {w}x{h} {} image needs {need}",
            img.data.len(),
            img.encoding
        ));
    }
    let rows = |y: u32| &img.data[y as usize * step..y as usize * step + row];
    let image = match img.encoding {
        "rgb8" => Rgb::from_fn(w, h, |x, y| {
            let p = &rows(y)[x as usize * 3..];
            [p[0], p[1], p[2]]
        }),
        "bgr8" | "8UC3" => Rgb::from_fn(w, h, |x, y| {
            let p = &rows(y)[x as usize * 3..];
            [p[2], p[1], p[0]]
        }),
        // Alpha is dropped: a camera frame is opaque.
        "rgba8" => Rgb::from_fn(w, h, |x, y| {
            let p = &rows(y)[x as usize * 4..];
            [p[0], p[1], p[2]]
        }),
        "bgra8" | "8UC4" => Rgb::from_fn(w, h, |x, y| {
            let p = &rows(y)[x as usize * 4..];
            [p[2], p[1], p[0]]
        }),
        "mono8" | "8UC1" => Rgb::from_fn(w, h, |x, y| [rows(y)[x as usize]; 3]),
        "mono16" | "16UC1" => {
            // Depth and 16-bit mono images rarely use the full range:
            // stretch what is there to 8 bits.
            let value = |x: u32, y: u32| {
                let p = &rows(y)[x as usize * 2..];
                if img.big_endian {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    u16::from_le_bytes([p[0], p[1]])
                }
            };
            let max = (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .map(|(x, y)| value(x, y))
                .max()
                .unwrap_or(0)
                .max(1);
            Rgb::from_fn(w, h, |x, y| {
                [(u32::from(value(x, y)) * 255 / u32::from(max)) as u8; 3]
            })
        }
        "yuv422" | "uyvy" | "yuv422_yuy2" | "yuyv" => {
            // Two pixels per four bytes: U Y0 V Y1 (uyvy) or Y0 U Y1 V (yuyv).
            let uyvy = matches!(img.encoding, "yuv422" | "uyvy");
            Rgb::from_fn(w, h, |x, y| {
                let pair = &rows(y)[(x as usize / 2) * 4..];
                let (luma, u, v) = if uyvy {
                    (if x % 2 == 0 { pair[1] } else { pair[3] }, pair[0], pair[2])
                } else {
                    (if x % 2 == 0 { pair[0] } else { pair[2] }, pair[1], pair[3])
                };
                yuv_to_rgb(luma, u, v)
            })
        }
        bayer => {
            // Each 2x2 cell becomes one pixel (half the size): enough for a
            // thumbnail, and no demosaicing artefacts to explain.
            if w < 2 || h < 2 {
                return Err(format!("a {w}x{h} Bayer image has no 2x2 cell"));
            }
            let pattern = &bayer["bayer_".len()..bayer.len() - 1];
            Rgb::from_fn(w / 2, h / 2, |cx, cy| {
                let at = |dx: u32, dy: u32| rows(cy * 2 + dy)[(cx * 2 + dx) as usize];
                let cell = [at(0, 0), at(1, 0), at(0, 1), at(1, 1)];
                let mut rgb = [0u16; 3];
                for (i, c) in pattern.bytes().enumerate() {
                    let channel = match c {
                        b'r' => 0,
                        b'g' => 1,
                        _ => 2,
                    };
                    rgb[channel] += u16::from(cell[i]);
                }
                [rgb[0] as u8, (rgb[1] / 2) as u8, rgb[2] as u8]
            })
        }
    };
    encode(image, w, h, time_ns)
}

fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let (y, u, v) = (f32::from(y), f32::from(u) - 128.0, f32::from(v) - 128.0);
    let clamp = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    [
        clamp(y + 1.402 * v),
        clamp(y - 0.344_136 * u - 0.714_136 * v),
        clamp(y + 1.772 * u),
    ]
}

/// A `CompressedImage`'s data as a frame: JPEG and PNG are told by their
/// bytes (the `format` string varies between drivers).
pub fn from_compressed(format: &str, data: &[u8], time_ns: i64) -> Result<Frame, String> {
    let image = if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(data)
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(data)
    } else {
        return Err(format!(
            "compressed format {format:?} is neither JPEG nor PNG data"
        ));
    }
    .map_err(|e| format!("the {format:?} image does not decode: {e}"))?;
    let (w, h) = (image.width, image.height);
    encode(image, w, h, time_ns)
}

fn decode_jpeg(data: &[u8]) -> Result<Rgb, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(1 << 14)
        .set_max_height(1 << 14);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
    let pixels = decoder.decode().map_err(|e| format!("{e:?}"))?;
    let (w, h) = decoder.dimensions().ok_or("no dimensions")?;
    if pixels.len() != w * h * 3 {
        return Err(format!("{} bytes for a {w}x{h} RGB image", pixels.len()));
    }
    Ok(Rgb {
        width: w as u32,
        height: h as u32,
        pixels,
    })
}

fn decode_png(data: &[u8]) -> Result<Rgb, String> {
    let mut decoder = png::Decoder::new(Cursor::new(data));
    // Palettes and low bit depths expanded, 16 bits cut to 8.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let (w, h) = {
        let info = reader.info();
        (info.width, info.height)
    };
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("the image is {w}x{h}, too large to draw"));
    }
    let size = reader
        .output_buffer_size()
        .ok_or("the image is too large")?;
    let mut buf = vec![0; size];
    let out = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let bytes = &buf[..out.buffer_size()];
    let px = |i: usize, n: usize| &bytes[i * n..i * n + n];
    let pixels: Vec<u8> = match out.color_type {
        png::ColorType::Rgb => bytes.to_vec(),
        png::ColorType::Rgba => (0..(w * h) as usize)
            .flat_map(|i| px(i, 4)[..3].to_vec())
            .collect(),
        png::ColorType::Grayscale => bytes.iter().flat_map(|&g| [g; 3]).collect(),
        png::ColorType::GrayscaleAlpha => (0..(w * h) as usize)
            .flat_map(|i| [px(i, 2)[0]; 3])
            .collect(),
        png::ColorType::Indexed => return Err("an indexed PNG was not expanded".to_string()),
    };
    Ok(Rgb {
        width: w,
        height: h,
        pixels,
    })
}

/// Scales to at most [`MAX_WIDTH`] wide (an area average) and encodes as
/// JPEG; `width` and `height` are the original image's (the coordinates
/// boxes are in).
fn encode(image: Rgb, width: u32, height: u32, time_ns: i64) -> Result<Frame, String> {
    let image = if image.width > MAX_WIDTH {
        let h = (u64::from(image.height) * u64::from(MAX_WIDTH) / u64::from(image.width)).max(1);
        downscale(&image, MAX_WIDTH, h as u32)
    } else {
        image
    };
    let mut data = Vec::new();
    jpeg_encoder::Encoder::new(&mut data, QUALITY)
        .encode(
            &image.pixels,
            image.width as u16,
            image.height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .map_err(|e| format!("encoding the frame as JPEG: {e}"))?;
    Ok(Frame {
        mime: "image/jpeg",
        data,
        width,
        height,
        time_ns,
    })
}

/// Each output pixel is the mean of the input pixels its area covers (by
/// whole pixels: a thumbnail needs no more). Row by row: each output row
/// sums its input rows once, then each output pixel its columns of that
/// sum.
fn downscale(src: &Rgb, w: u32, h: u32) -> Rgb {
    let (sw, sh) = (src.width as usize, src.height as usize);
    let spans = |out: u32, len: usize| -> Vec<(usize, usize)> {
        let out = out as usize;
        (0..out)
            .map(|i| {
                let a = i * len / out;
                let b = ((i + 1) * len / out).max(a + 1).min(len);
                (a, b)
            })
            .collect()
    };
    let (xs, ys) = (spans(w, sw), spans(h, sh));
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    let mut rows = vec![0u32; sw * 3];
    for &(y0, y1) in &ys {
        rows.fill(0);
        for line in src.pixels[y0 * sw * 3..y1 * sw * 3].chunks_exact(sw * 3) {
            for (sum, &p) in rows.iter_mut().zip(line) {
                *sum += u32::from(p);
            }
        }
        for &(x0, x1) in &xs {
            // s / n as s * m >> 40 (a division per channel was most of the
            // time): exact while s < 2^40 / n, which s <= 255 n keeps for
            // any n up to 65,000 (areas are a few pixels; a strip a million
            // pixels wide divides).
            let n = ((x1 - x0) * (y1 - y0)) as u64;
            let m = (1u64 << 40) / n + 1;
            let mean = |s: u32| {
                if n < 65_000 {
                    ((u64::from(s) * m) >> 40) as u8
                } else {
                    (u64::from(s) / n) as u8
                }
            };
            let mut sum = [0u32; 3];
            for px in rows[x0 * 3..x1 * 3].chunks_exact(3) {
                for c in 0..3 {
                    sum[c] += px[c];
                }
            }
            pixels.extend(sum.map(mean));
        }
    }
    Rgb {
        width: w,
        height: h,
        pixels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, RgbImage};

    fn decode(frame: &Frame) -> image::RgbImage {
        image::load_from_memory(&frame.data).unwrap().to_rgb8()
    }

    fn close(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 24)
    }

    fn raw<'a>(encoding: &'a str, w: u32, h: u32, step: u32, data: &'a [u8]) -> RawImage<'a> {
        RawImage {
            width: w,
            height: h,
            encoding,
            big_endian: false,
            step,
            data,
        }
    }

    #[test]
    fn colour_encodings_keep_their_colours() {
        // 16x16 of one colour, so JPEG keeps it.
        let red_rgb: Vec<u8> = [200u8, 30, 40].repeat(256);
        let red_bgr: Vec<u8> = [40u8, 30, 200].repeat(256);
        let red_bgra: Vec<u8> = [40u8, 30, 200, 255].repeat(256);
        for (enc, data, bpp) in [
            ("rgb8", &red_rgb, 3),
            ("bgr8", &red_bgr, 3),
            ("8UC3", &red_bgr, 3),
            ("bgra8", &red_bgra, 4),
        ] {
            let f = from_raw(&raw(enc, 16, 16, 16 * bpp, data), 5).unwrap();
            assert_eq!((f.width, f.height, f.time_ns), (16, 16, 5));
            let px = decode(&f).get_pixel(8, 8).0;
            assert!(close(px, [200, 30, 40]), "{enc}: {px:?}");
        }
    }

    #[test]
    fn rows_are_read_by_step_not_by_width() {
        // 2 pixels wide, rows padded to 8 bytes; the padding is garbage.
        let mut data = Vec::new();
        for _ in 0..2 {
            data.extend_from_slice(&[0, 0, 0, 255, 255, 255, 9, 9]);
        }
        let f = from_raw(&raw("rgb8", 2, 2, 8, &data), 0).unwrap();
        assert_eq!((f.width, f.height), (2, 2));
    }

    #[test]
    fn mono16_is_stretched_and_yuv_converted() {
        let data: Vec<u8> = (0..64u16).flat_map(|v| (v * 10).to_le_bytes()).collect();
        let f = from_raw(&raw("16UC1", 8, 8, 16, &data), 0).unwrap();
        let img = decode(&f);
        assert!(
            img.get_pixel(7, 7).0[0] > 200,
            "the largest value is near white"
        );
        // Grey in UYVY: U = V = 128.
        let grey: Vec<u8> = [128u8, 100, 128, 100].repeat(32);
        let f = from_raw(&raw("uyvy", 8, 8, 16, &grey), 0).unwrap();
        assert!(close(decode(&f).get_pixel(4, 4).0, [100, 100, 100]));
    }

    #[test]
    fn downscaling_averages_each_output_pixels_area() {
        // The plain definition, pixel by pixel, against the row-wise one,
        // on sizes that do not divide.
        let reference = |src: &Rgb, w: u32, h: u32| {
            let (sw, sh) = (src.width as usize, src.height as usize);
            let span = |i: u32, out: u32, len: usize| {
                let a = i as usize * len / out as usize;
                let b = ((i as usize + 1) * len / out as usize).max(a + 1).min(len);
                (a, b)
            };
            Rgb::from_fn(w, h, |x, y| {
                let ((x0, x1), (y0, y1)) = (span(x, w, sw), span(y, h, sh));
                let mut sum = [0u32; 3];
                for yy in y0..y1 {
                    for xx in x0..x1 {
                        let p = &src.pixels[(yy * sw + xx) * 3..][..3];
                        for (s, &v) in sum.iter_mut().zip(p) {
                            *s += u32::from(v);
                        }
                    }
                }
                let n = ((x1 - x0) * (y1 - y0)) as u32;
                sum.map(|s| (s / n) as u8)
            })
        };
        let src = Rgb::from_fn(1283, 719, |x, y| {
            [(x * 7 + y) as u8, (x ^ y) as u8, (x * y % 251) as u8]
        });
        for (w, h) in [
            (960, 538),
            (640, 359),
            (1283, 719),
            (71, 40),
            (9, 5),
            (1, 1),
        ] {
            let got = downscale(&src, w, h);
            assert_eq!((got.width, got.height), (w, h));
            assert_eq!(got.pixels, reference(&src, w, h).pixels, "{w}x{h}");
        }
    }

    #[test]
    fn wide_frames_are_scaled_and_keep_their_size_for_the_boxes() {
        let data = vec![128u8; 1920 * 1080];
        let f = from_raw(&raw("mono8", 1920, 1080, 1920, &data), 0).unwrap();
        assert_eq!((f.width, f.height), (1920, 1080));
        let img = decode(&f);
        assert_eq!((img.width(), img.height()), (MAX_WIDTH, 540));
    }

    #[test]
    fn what_cannot_be_drawn_says_why() {
        let e = from_raw(&raw("32FC1", 2, 2, 8, &[0; 16]), 0).unwrap_err();
        assert!(e.contains("32FC1"), "{e}");
        let e = from_raw(&raw("rgb8", 4, 4, 12, &[0; 20]), 0).unwrap_err();
        assert!(e.contains("needs 48"), "{e}");
        let e = from_raw(&raw("rgb8", 4, 4, 2, &[0; 48]), 0).unwrap_err();
        assert!(e.contains("step"), "{e}");
        let e = from_compressed("16UC1; compressedDepth", &[0, 0, 0, 0, 1], 0).unwrap_err();
        assert!(e.contains("neither JPEG nor PNG"), "{e}");
    }

    #[test]
    fn compressed_jpeg_and_png_decode() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(20, 10, image::Rgb([10, 200, 10])));
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let mut bytes = Vec::new();
            img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
            let f = from_compressed("jpeg", &bytes, 3).unwrap();
            assert_eq!((f.width, f.height), (20, 10));
            assert!(close(decode(&f).get_pixel(10, 5).0, [10, 200, 10]));
        }
    }
}
