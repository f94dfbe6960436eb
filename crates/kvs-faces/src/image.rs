//! Images as the engine takes them, and decoding of Rekognition's formats (JPEG, PNG).

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::{ImageInfo, JpegDecoder};

use crate::FaceError;

/// Largest image decoded, in pixels (about 8,000 x 6,000): bounds the memory an untrusted
/// upload can make us allocate (three bytes a pixel).
pub const MAX_PIXELS: u64 = 50_000_000;

/// A decoded image: packed 8-bit RGB, row-major, no padding (`data.len() == width * height * 3`).
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` pixels of three bytes (red, green, blue), top row first.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("data", &format_args!("[{} bytes]", self.data.len()))
            .finish()
    }
}

impl RgbImage {
    /// An image from packed RGB8 bytes; refuses a buffer whose length is not `width * height * 3`
    /// or an empty image.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self, FaceError> {
        let image = RgbImage {
            width,
            height,
            data,
        };
        image.check()?;
        Ok(image)
    }

    pub(crate) fn check(&self) -> Result<(), FaceError> {
        let pixels = u64::from(self.width) * u64::from(self.height);
        if pixels == 0 {
            return Err(FaceError::InvalidImage(format!(
                "image is {}x{}: nothing to analyse",
                self.width, self.height
            )));
        }
        if pixels > MAX_PIXELS {
            return Err(FaceError::InvalidImage(format!(
                "image is {}x{} ({} megapixels); at most {} megapixels are analysed, scale it down",
                self.width,
                self.height,
                pixels / 1_000_000,
                MAX_PIXELS / 1_000_000
            )));
        }
        if self.data.len() as u64 != pixels * 3 {
            return Err(FaceError::InvalidImage(format!(
                "{}x{} RGB needs {} bytes, the buffer has {}",
                self.width,
                self.height,
                pixels * 3,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// The pixel at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        match self.data.get(i..i + 3) {
            Some(p) => [p[0], p[1], p[2]],
            None => [0; 3],
        }
    }
}

/// Decodes a JPEG or PNG (the formats Rekognition takes) to RGB, turned upright as its EXIF
/// orientation says. Grey, grey+alpha, RGBA, palette and 16-bit PNGs and grey or CMYK JPEGs
/// become 8-bit RGB (alpha is dropped).
///
/// Anything else, truncated or corrupt data, or an image over [`MAX_PIXELS`] is
/// [`FaceError::InvalidImage`].
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, FaceError> {
    let decode = || {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            decode_jpeg(bytes)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            decode_png(bytes)
        } else {
            Err(FaceError::InvalidImage(format!(
                "not a JPEG or PNG ({} bytes starting {}); Rekognition takes JPEG and PNG only",
                bytes.len(),
                bytes
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )))
        }
    };
    // The decoders parse untrusted uploads; a bug that panics in one must fail this image, not
    // the server thread that called us.
    catch_unwind(AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        Err(FaceError::InvalidImage(
            "the image decoder failed on this data (corrupt image?)".to_owned(),
        ))
    })
}

fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, FaceError> {
    let bad = |e: &dyn std::fmt::Display| FaceError::InvalidImage(format!("bad JPEG: {e}"));
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(1 << 16)
        .set_max_height(1 << 16);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| bad(&e))?;
    let info = decoder
        .info()
        .ok_or_else(|| FaceError::InvalidImage("bad JPEG: no frame header".to_owned()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(width, height)?;
    check_sampling(bytes, &info)?;
    let orientation = decoder
        .exif()
        .and_then(|exif| exif_orientation(exif))
        .unwrap_or(1);
    let data = decoder.decode().map_err(|e| bad(&e))?;
    let image = RgbImage::new(width, height, data)?;
    Ok(orient(image, orientation))
}

fn decode_png(bytes: &[u8]) -> Result<RgbImage, FaceError> {
    let bad = |e: &dyn std::fmt::Display| FaceError::InvalidImage(format!("bad PNG: {e}"));
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: (MAX_PIXELS * 8) as usize,
        },
    );
    // palette and low bit depths to 8 bits, 16 bits to 8
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let header = decoder.read_header_info().map_err(|e| bad(&e))?;
    check_size(header.width, header.height)?;
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let size = reader.output_buffer_size().ok_or_else(|| {
        FaceError::InvalidImage("bad PNG: image size overflows memory".to_owned())
    })?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(|e| bad(&e))?;
    buf.truncate(frame.buffer_size());
    let orientation = reader
        .info()
        .exif_metadata
        .as_deref()
        .and_then(exif_orientation)
        .unwrap_or(1);
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(FaceError::InvalidImage(
                "bad PNG: palette not expanded".to_owned(),
            ));
        }
    };
    let (width, height) = (frame.width, frame.height);
    let row = frame.line_size;
    let mut data = Vec::with_capacity(width as usize * height as usize * 3);
    for line in buf.chunks_exact(row).take(height as usize) {
        for px in line.chunks_exact(channels).take(width as usize) {
            match channels {
                1 | 2 => data.extend_from_slice(&[px[0], px[0], px[0]]),
                _ => data.extend_from_slice(&px[..3]),
            }
        }
    }
    let image = RgbImage::new(width, height, data)?;
    Ok(orient(image, orientation))
}

fn check_size(width: u32, height: u32) -> Result<(), FaceError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || pixels > MAX_PIXELS {
        return Err(FaceError::InvalidImage(format!(
            "image is {width}x{height}; it must have at least one pixel and at most {} megapixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    Ok(())
}

/// Refuses a JPEG whose first (luma) component is sampled less finely than another one. No
/// encoder writes these, and zune-jpeg (0.5.15, upstream issue etemesi254/zune-image#362) panics
/// on some of them, those with a scan per component: refusing them all keeps the panic from
/// happening at all, where `decode_image`'s `catch_unwind` would only contain it.
fn check_sampling(bytes: &[u8], info: &ImageInfo) -> Result<(), FaceError> {
    // The decoder does not say what sampling factors it read, so look at every frame header
    // (SOF0-2) with the size it reports: the one it read is among them, and any other (in a
    // thumbnail, say) can only make us refuse more.
    let components = usize::from(info.components);
    let mut header = (8 + 3 * u16::from(info.components)).to_be_bytes().to_vec();
    header.push(8);
    header.extend(info.height.to_be_bytes());
    header.extend(info.width.to_be_bytes());
    header.push(info.components);
    for (at, pair) in bytes.windows(2).enumerate() {
        if pair[0] != 0xFF || !(0xC0..=0xC2).contains(&pair[1]) {
            continue;
        }
        let Some(frame) = bytes.get(at + 2..at + 2 + header.len() + 3 * components) else {
            continue;
        };
        let Some(specs) = frame.strip_prefix(header.as_slice()) else {
            continue;
        };
        let factors: Vec<(u8, u8)> = specs
            .chunks_exact(3)
            .map(|c| (c[1] >> 4, c[1] & 0xF))
            .collect();
        let most = factors
            .iter()
            .fold((0, 0), |m, f| (m.0.max(f.0), m.1.max(f.1)));
        if factors.first() != Some(&most) {
            let factors: Vec<String> = factors.iter().map(|(h, v)| format!("{h}x{v}")).collect();
            return Err(FaceError::InvalidImage(format!(
                "unsupported JPEG: its first (luma) component is sampled less finely than \
                 another one (sampling factors {}); re-encode it with a common encoder",
                factors.join(", ")
            )));
        }
    }
    Ok(())
}

/// The Orientation tag (0x0112) of IFD0 in EXIF data that starts at the TIFF header (optionally
/// behind the `Exif\0\0` prefix of the JPEG APP1 segment).
fn exif_orientation(exif: &[u8]) -> Option<u16> {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    let little = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = tiff.get(at..at + 4)?;
        Some(if little {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    let ifd0 = usize::try_from(u32_at(4)?).ok()?;
    let entries = u16_at(ifd0)?;
    (0..usize::from(entries)).find_map(|i| {
        let entry = ifd0 + 2 + i * 12;
        // tag 0x0112, type SHORT, one value, held in the first two bytes of the value field
        (u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3)
            .then(|| u16_at(entry + 8))
            .flatten()
            .filter(|o| (1..=8).contains(o))
    })
}

/// Turns an image upright for EXIF orientation `o` (1 = already upright; 2-8 mirror and/or
/// rotate, as the TIFF specification defines them).
fn orient(image: RgbImage, o: u16) -> RgbImage {
    if !(2..=8).contains(&o) {
        return image;
    }
    let (w, h) = (image.width as usize, image.height as usize);
    // orientations 5-8 swap width and height
    let (ow, oh) = if o >= 5 { (h, w) } else { (w, h) };
    let mut data = vec![0u8; image.data.len()];
    for y in 0..oh {
        for x in 0..ow {
            // where output pixel (x, y) comes from in the stored image
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x), // 8
            };
            let src = (sy * w + sx) * 3;
            let dst = (y * ow + x) * 3;
            data[dst..dst + 3].copy_from_slice(&image.data[src..src + 3]);
        }
    }
    RgbImage {
        width: ow as u32,
        height: oh as u32,
        data,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A 3x2 image whose pixels are numbered 0..6, row by row.
    fn numbered() -> RgbImage {
        RgbImage::new(3, 2, (0..6).flat_map(|i| [i, i, i]).collect()).unwrap()
    }

    fn numbers(image: &RgbImage) -> Vec<u8> {
        image.data.chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn orientations() {
        // stored:  0 1 2
        //          3 4 5
        assert_eq!(numbers(&orient(numbered(), 1)), [0, 1, 2, 3, 4, 5]);
        assert_eq!(numbers(&orient(numbered(), 2)), [2, 1, 0, 5, 4, 3]);
        assert_eq!(numbers(&orient(numbered(), 3)), [5, 4, 3, 2, 1, 0]);
        assert_eq!(numbers(&orient(numbered(), 4)), [3, 4, 5, 0, 1, 2]);
        // 6: the camera was turned clockwise; turn the picture clockwise to view it
        let r = orient(numbered(), 6);
        assert_eq!((r.width, r.height), (2, 3));
        assert_eq!(numbers(&r), [3, 0, 4, 1, 5, 2]);
        assert_eq!(numbers(&orient(numbered(), 8)), [2, 5, 1, 4, 0, 3]);
        assert_eq!(numbers(&orient(numbered(), 5)), [0, 3, 1, 4, 2, 5]);
        assert_eq!(numbers(&orient(numbered(), 7)), [5, 2, 4, 1, 3, 0]);
    }

    fn tiff_with_orientation(little: bool, o: u16) -> Vec<u8> {
        let u16b = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut t = if little {
            b"II\x2a\x00".to_vec()
        } else {
            b"MM\x00\x2a".to_vec()
        };
        t.extend(u32b(8));
        t.extend(u16b(2)); // two entries: ImageWidth, then Orientation
        t.extend(u16b(0x0100));
        t.extend(u16b(4));
        t.extend(u32b(1));
        t.extend(u32b(640));
        t.extend(u16b(0x0112));
        t.extend(u16b(3));
        t.extend(u32b(1));
        t.extend(u16b(o));
        t.extend([0, 0]);
        t.extend(u32b(0));
        t
    }

    #[test]
    fn exif_orientation_both_byte_orders() {
        assert_eq!(exif_orientation(&tiff_with_orientation(true, 6)), Some(6));
        assert_eq!(exif_orientation(&tiff_with_orientation(false, 8)), Some(8));
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff_with_orientation(false, 3));
        assert_eq!(exif_orientation(&app1), Some(3));
        assert_eq!(exif_orientation(&tiff_with_orientation(true, 9)), None);
        assert_eq!(exif_orientation(b"II\x2a\x00\xff\xff\xff\xff"), None);
        assert_eq!(exif_orientation(b""), None);
    }

    fn png_bytes(width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn png_grey_and_rgba_become_rgb() {
        let grey = decode_image(&png_bytes(2, 1, png::ColorType::Grayscale, &[10, 200])).unwrap();
        assert_eq!(grey.data, [10, 10, 10, 200, 200, 200]);
        let rgba = decode_image(&png_bytes(
            1,
            2,
            png::ColorType::Rgba,
            &[1, 2, 3, 255, 4, 5, 6, 0],
        ))
        .unwrap();
        assert_eq!((rgba.width, rgba.height), (1, 2));
        assert_eq!(rgba.data, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn garbage_is_invalid_image() {
        for bytes in [
            &b""[..],
            b"hello, world",
            b"\xff\xd8\xff\xe0 truncated jpeg",
            b"\x89PNG\r\n\x1a\n truncated png",
        ] {
            let err = decode_image(bytes).unwrap_err();
            assert!(matches!(err, FaceError::InvalidImage(_)), "{err:?}");
        }
        let png = png_bytes(2, 1, png::ColorType::Grayscale, &[10, 200]);
        let err = decode_image(&png[..png.len() - 20]).unwrap_err();
        assert!(matches!(err, FaceError::InvalidImage(_)), "{err:?}");
    }

    #[test]
    fn new_checks_the_buffer() {
        assert!(RgbImage::new(2, 2, vec![0; 12]).is_ok());
        assert!(RgbImage::new(2, 2, vec![0; 11]).is_err());
        assert!(RgbImage::new(0, 2, vec![]).is_err());
    }
}
