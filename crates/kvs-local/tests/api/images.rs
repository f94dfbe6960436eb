use crate::clip::{ffprobe, recording};
use crate::hls::upload;
use crate::media::{archive_client, now_ms};
use crate::start;
use aws_sdk_kinesisvideoarchivedmedia::primitives::DateTime;
use aws_sdk_kinesisvideoarchivedmedia::types::{
    Format, FormatConfigKey, ImageError, ImageSelectorType,
};

#[tokio::test]
async fn get_images_returns_decoded_stills() {
    let local = start().await;
    let server = local.server();
    let dir = local.kvs.scratch_dir();
    local.kvs.create_stream("cam").await;
    let (tracks, frames) = recording(dir);
    let base = now_ms() - 20_000;
    upload(server, "cam", &tracks, &frames, base).await;
    let archive = archive_client(server);

    // one sample a second over the 3 s recording, and one after it
    let out = archive
        .get_images()
        .stream_name("cam")
        .image_selector_type(ImageSelectorType::ProducerTimestamp)
        .start_timestamp(DateTime::from_millis(base as i64 + 500))
        .end_timestamp(DateTime::from_millis(base as i64 + 3_500))
        .sampling_interval(1_000)
        .format(Format::Jpeg)
        .format_config(FormatConfigKey::JpegQuality, "70")
        .width_pixels(160)
        .send()
        .await
        .unwrap();
    let images = out.images();
    assert_eq!(images.len(), 4);
    for (i, image) in images[..3].iter().enumerate() {
        let b64 = image
            .image_content()
            .unwrap_or_else(|| panic!("image {i}: {image:?}"));
        use base64::Engine as _;
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
        let path = dir.join(format!("still-{i}.jpg"));
        std::fs::write(&path, &jpeg).unwrap();
        let probe = ffprobe(&path);
        assert_eq!(probe["streams"][0]["width"], 160);
        assert_eq!(probe["streams"][0]["height"], 120, "aspect ratio kept");
    }
    assert_eq!(
        images[3].error(),
        Some(&ImageError::NoMedia),
        "nothing recorded after 3 s"
    );

    let png = archive
        .get_images()
        .stream_name("cam")
        .image_selector_type(ImageSelectorType::ProducerTimestamp)
        .start_timestamp(DateTime::from_millis(base as i64 + 1_200))
        .end_timestamp(DateTime::from_millis(base as i64 + 1_200))
        .sampling_interval(1_000)
        .format(Format::Png)
        .send()
        .await
        .unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.images()[0].image_content().unwrap())
        .unwrap();
    assert_eq!(&bytes[1..4], b"PNG");

    let bad = archive
        .get_images()
        .stream_name("cam")
        .image_selector_type(ImageSelectorType::ProducerTimestamp)
        .start_timestamp(DateTime::from_millis(base as i64))
        .end_timestamp(DateTime::from_millis(base as i64 + 1_000))
        .sampling_interval(10)
        .format(Format::Jpeg)
        .send()
        .await
        .unwrap_err();
    assert!(bad.into_service_error().is_invalid_argument_exception());
}
