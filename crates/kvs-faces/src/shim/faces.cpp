// kvs-faces: a small C ABI over dlib 19.24 (Debian libdlib-dev): HOG face detection, the 5-point
// shape predictor, aligned 150x150 face chips and the ResNet face-recognition network.
//
// Rust reaches this file only through src/ffi.rs. Every entry point catches every exception:
// unwinding into Rust would be undefined behaviour. An engine is not thread-safe (the network
// keeps its buffers between calls); the Rust side holds each one behind a mutex.

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// The network of dlib_face_recognition_resnet_model_v1.dat, as dlib publishes it in
// examples/dnn_face_recognition_ex.cpp (public domain): the type must match the one the model
// was serialised from, layer for layer, or deserialisation fails.
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = dlib::add_prev2<dlib::avg_pool<
    2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET>
using ares = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;

template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

using face_net = dlib::loss_metric<dlib::fc_no_bias<
    128,
    dlib::avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<dlib::max_pool<
        3, 3, 2, 2,
        dlib::relu<dlib::affine<dlib::con<32, 7, 7, 2, 2, dlib::input_rgb_image_sized<150>>>>>>>>>>>>>;

// The chip size the network was trained on, and dlib's recommended padding around the face.
constexpr unsigned long CHIP_SIZE = 150;
constexpr double CHIP_PADDING = 0.25;
constexpr unsigned long BATCH = 16;

struct found_face {
    dlib::drectangle rect;  // in the caller's image
    double score;
    dlib::full_object_detection shape;
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::matrix<float, 0, 1> descriptor;
};

void set_error(char* err, size_t err_len, const char* message) {
    if (err == nullptr || err_len == 0) return;
    std::strncpy(err, message, err_len - 1);
    err[err_len - 1] = '\0';
}

using grey_image = dlib::matrix<unsigned char>;

// Runs the detector on `img` and appends the detections scaled by 1/scale.
void detect(dlib::frontal_face_detector& detector, const grey_image& img, double scale,
            std::vector<found_face>& out) {
    std::vector<dlib::rect_detection> dets;
    detector(img, dets, 0.0);
    for (const auto& d : dets) {
        found_face f;
        f.rect = dlib::drectangle(d.rect.left() / scale, d.rect.top() / scale,
                                  d.rect.right() / scale, d.rect.bottom() / scale);
        f.score = d.detection_confidence;
        out.push_back(std::move(f));
    }
}

}  // namespace

struct kvs_faces_engine {
    dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
    dlib::shape_predictor landmarks;
    face_net net;
    std::vector<found_face> faces;  // results of the last kvs_faces_analyze
};

// One face of the last analysis; coordinates in pixels of the analysed image.
struct kvs_faces_face {
    double left, top, right, bottom;
    double score;        // the HOG detector's SVM margin (> 0 for a detection)
    double points[10];   // the 5 landmarks as x, y pairs, in the shape predictor's order
    float descriptor[128];
};

extern "C" {

// Loads the models. On failure returns null, with dlib's message in `err` and in `failed` which
// file it could not read: 1 the shape predictor, 2 the network, 0 neither (out of memory).
kvs_faces_engine* kvs_faces_engine_new(const char* landmarks_path, const char* net_path,
                                       int32_t* failed, char* err, size_t err_len) noexcept {
    kvs_faces_engine* engine = nullptr;
    *failed = 0;
    try {
        engine = new kvs_faces_engine();
        *failed = 1;
        dlib::deserialize(landmarks_path) >> engine->landmarks;
        if (engine->landmarks.num_parts() != 5) {
            throw std::runtime_error("it has " + std::to_string(engine->landmarks.num_parts()) +
                                     " landmarks; the 5-point model is needed");
        }
        *failed = 2;
        dlib::deserialize(net_path) >> engine->net;
        *failed = 0;
        return engine;
    } catch (const std::exception& e) {
        set_error(err, err_len, e.what());
    } catch (...) {
        set_error(err, err_len, "unknown C++ exception while loading the models");
    }
    delete engine;
    return nullptr;
}

void kvs_faces_engine_free(kvs_faces_engine* engine) noexcept { delete engine; }

// Detects faces in `rgb` (packed RGB8, `width` * `height` * 3 bytes, row-major) and keeps them
// in the engine for kvs_faces_face_get. The detector sees the image scaled down so that its
// longest side is at most `max_detection_side` (0: never); when it finds nothing and the
// longest side is at most `upsample_below`, it looks again at twice the size (HOG finds faces
// of about 80 pixels and up). Landmarks, chips and descriptors come from the full image.
// Returns the number of faces, or -1 with a message in `err`.
int64_t kvs_faces_analyze(kvs_faces_engine* engine, const uint8_t* rgb, uint32_t width,
                          uint32_t height, uint32_t max_detection_side, uint32_t upsample_below,
                          char* err, size_t err_len) noexcept {
    try {
        engine->faces.clear();
        dlib::matrix<dlib::rgb_pixel> img(height, width);
        if (width > 0 && height > 0) {
            std::memcpy(&img(0, 0), rgb, size_t(width) * size_t(height) * 3);
        }
        // HOG on grey: on colour, dlib computes the gradients of each channel and keeps the
        // strongest, three times the work for the same faces.
        grey_image grey;
        dlib::assign_image(grey, img);
        const uint32_t longest = width > height ? width : height;
        std::vector<found_face> faces;
        if (max_detection_side > 0 && longest > max_detection_side) {
            const double scale = double(max_detection_side) / double(longest);
            grey_image small(std::lround(height * scale), std::lround(width * scale));
            dlib::resize_image(grey, small);
            detect(engine->detector, small, scale, faces);
        } else {
            detect(engine->detector, grey, 1.0, faces);
            if (faces.empty() && longest <= upsample_below) {
                grey_image big;
                dlib::pyramid_up(grey, big, dlib::pyramid_down<2>());
                detect(engine->detector, big, 2.0, faces);
            }
        }

        std::vector<dlib::matrix<dlib::rgb_pixel>> chips;
        for (auto& f : faces) {
            f.shape = engine->landmarks(img, dlib::rectangle(f.rect));
            dlib::extract_image_chip(img, dlib::get_face_chip_details(f.shape, CHIP_SIZE, CHIP_PADDING),
                                     f.chip);
            chips.push_back(f.chip);
        }
        if (!chips.empty()) {
            std::vector<dlib::matrix<float, 0, 1>> descriptors = engine->net(chips, BATCH);
            for (size_t i = 0; i < faces.size(); ++i) faces[i].descriptor = descriptors[i];
        }
        engine->faces = std::move(faces);
        return int64_t(engine->faces.size());
    } catch (const std::exception& e) {
        set_error(err, err_len, e.what());
    } catch (...) {
        set_error(err, err_len, "unknown C++ exception while analysing an image");
    }
    engine->faces.clear();
    return -1;
}

// Copies face `index` of the last analysis into `out`, and its aligned 150x150 chip (packed
// RGB8, 67,500 bytes) into `chip`. Returns 0, or -1 when there is no such face.
int32_t kvs_faces_face_get(const kvs_faces_engine* engine, size_t index, kvs_faces_face* out,
                           uint8_t* chip) noexcept {
    if (index >= engine->faces.size()) return -1;
    const found_face& f = engine->faces[index];
    out->left = f.rect.left();
    out->top = f.rect.top();
    out->right = f.rect.right();
    out->bottom = f.rect.bottom();
    out->score = f.score;
    for (unsigned long k = 0; k < 5; ++k) {
        const bool have = k < f.shape.num_parts();
        out->points[2 * k] = have ? double(f.shape.part(k).x()) : 0.0;
        out->points[2 * k + 1] = have ? double(f.shape.part(k).y()) : 0.0;
    }
    const bool have_descriptor = f.descriptor.size() == 128;
    for (long k = 0; k < 128; ++k) out->descriptor[k] = have_descriptor ? f.descriptor(k) : 0.0f;
    if (f.chip.nr() == long(CHIP_SIZE) && f.chip.nc() == long(CHIP_SIZE)) {
        std::memcpy(chip, &f.chip(0, 0), CHIP_SIZE * CHIP_SIZE * 3);
    } else {
        std::memset(chip, 0, CHIP_SIZE * CHIP_SIZE * 3);
    }
    return 0;
}

}  // extern "C"
