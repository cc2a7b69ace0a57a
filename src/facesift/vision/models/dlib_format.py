"""Reader for dlib's portable serialization format and for dlib DNN network files
(dlib_face_recognition_resnet_model_v1.dat, mmod_human_face_detector.dat).

Only numpy is required.  Nothing here imports dlib.

Format notes, from dlib's sources (serialize.h, float_details.h, cuda/tensor.h, and
dnn/core.h, layers.h, loss.h, input.h for the layers):

* Integers (dlib/serialize.h, ser_helper::pack_int / unpack_int): one control
  byte whose low 4 bits are the number of following bytes and whose bit 0x80
  is the sign, then |value| little-endian in that many bytes.  pack_int always
  writes at least one payload byte (its loop breaks only after emitting a byte),
  so 0 is written as 0x01 0x00 and e.g. -28 as 0x81 0x1c.  unpack_int for *unsigned*
  targets masks the control byte with 0x8F, so a set sign bit is an error there; we mirror that.
* float/double (serialize_floating_point -> float_details): mantissa (int64,
  int encoding) FIRST, then exponent (int16, int encoding); value =
  mantissa * 2**exponent, with exponent codes 32000/32001/32002 meaning
  +inf/-inf/nan (dlib/float_details.h).  NB: the prose comment at the top of
  serialize.h says "first the exponent and then the mantissa" but the code
  (serialize(const float_details&)) writes mantissa first; the code wins.
  deserialize_floating_point also accepts an old ASCII format when the first
  byte has any of the bits 0x70 set; we reject that (never seen in DNN files).
* bool: a single ASCII byte '1' or '0'.
* std::string: size (unsigned long, int encoding) then raw bytes.
* unsigned char / uint8_t: one raw byte (USE_DEFAULT_BYTE_SERIALIZATION_FOR).
* std::vector<T>: size then elements.
* resizable_tensor (dlib/cuda/tensor.h serialize(const tensor&)): int version
  (must be 2), num_samples, k, nr, nc (long), then num_samples*k*nr*nc raw
  little-endian IEEE float32 -- *not* float_details.
* alias_tensor: int version (1), num_samples, k, nr, nc.  No data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesift.errors import ModelError


class DlibFormatError(ModelError, ValueError):
    """The file is not a dlib network this reader understands."""


# --------------------------------------------------------------------------------------
# primitive reader
# --------------------------------------------------------------------------------------


class Reader:
    """Cursor over a bytes object implementing dlib's serialize.h primitives."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    # -- low level ---------------------------------------------------------------------
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of data at offset {self.pos} (wanted {n} bytes)")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def byte(self) -> int:
        """unsigned char / uint8_t / char: one raw byte."""
        return self._take(1)[0]

    # -- integers ----------------------------------------------------------------------
    def int_(self, max_bytes: int = 8) -> int:
        """Signed integral type (short/int/long/int64).  max_bytes = sizeof(T)."""
        ctrl = self.byte()
        neg = bool(ctrl & 0x80)
        size = ctrl & 0x0F
        if size > max_bytes:
            raise DlibFormatError(
                f"integer of {size} bytes does not fit a {max_bytes}-byte type "
                f"at offset {self.pos - 1}"
            )
        v = int.from_bytes(self._take(size), "little") if size else 0
        return -v if neg else v

    def uint(self, max_bytes: int = 8) -> int:
        """Unsigned integral type.  dlib masks the control byte with 0x8F, so a set
        sign bit makes `size > sizeof(T)` and is an error."""
        ctrl = self.byte()
        size = ctrl & 0x8F
        if size > max_bytes:
            raise DlibFormatError(
                f"bad unsigned integer control byte 0x{ctrl:02x} at offset {self.pos - 1}"
            )
        return int.from_bytes(self._take(size), "little") if size else 0

    def int32(self) -> int:
        return self.int_(4)

    def int16(self) -> int:
        return self.int_(2)

    def int64(self) -> int:
        return self.int_(8)

    def uint64(self) -> int:
        return self.uint(8)

    # -- floating point ----------------------------------------------------------------
    IS_INF, IS_NINF, IS_NAN = 32000, 32001, 32002

    def float_(self) -> float:
        """float/double via float_details: int64 mantissa, then int16 exponent."""
        first = self.data[self.pos] if self.pos < len(self.data) else None
        if first is None:
            raise DlibFormatError("unexpected end of data reading a float")
        if first & 0x70:
            raise DlibFormatError(
                f"old ASCII float format (byte 0x{first:02x}) at offset {self.pos} not supported"
            )
        mant = self.int64()
        exp = self.int16()
        if exp < self.IS_INF:
            return float(np.ldexp(np.float64(mant), exp))
        if exp == self.IS_INF:
            return float("inf")
        if exp == self.IS_NINF:
            return float("-inf")
        return float("nan")

    # -- misc --------------------------------------------------------------------------
    def bool_(self) -> bool:
        c = self.byte()
        if c == ord("1"):
            return True
        if c == ord("0"):
            return False
        raise DlibFormatError(f"bad bool byte 0x{c:02x} at offset {self.pos - 1}")

    def string(self) -> str:
        n = self.uint()
        return self._take(n).decode("latin-1")

    def peek_string(self) -> str | None:
        """Return the string at the cursor without consuming it, or None if the bytes
        there do not look like a short printable dlib string."""
        save = self.pos
        try:
            ctrl = self.data[self.pos]
            if ctrl & 0xF0:
                return None
            n = self.uint()
            if n == 0 or n > 64 or self.remaining() < n:
                return None
            s = self._take(n)
            if not all(32 <= ch < 127 for ch in s):
                return None
            return s.decode("ascii")
        except (DlibFormatError, IndexError):
            return None
        finally:
            self.pos = save

    def vector(self, elem) -> list:
        n = self.uint()
        return [elem() for _ in range(n)]

    # -- tensors -----------------------------------------------------------------------
    def tensor(self) -> np.ndarray:
        """resizable_tensor: version 2, (num_samples, k, nr, nc), raw float32 LE."""
        start = self.pos
        ver = self.int32()
        if ver != 2:
            raise DlibFormatError(f"unexpected tensor version {ver} at offset {start}")
        shape = tuple(self.int64() for _ in range(4))
        if any(d < 0 for d in shape):
            raise DlibFormatError(f"negative tensor dims {shape} at offset {start}")
        n = int(np.prod(shape, dtype=np.int64))
        raw = self._take(4 * n)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple:
        """alias_tensor: version 1, (num_samples, k, nr, nc).  Shape only."""
        start = self.pos
        ver = self.int32()
        if ver != 1:
            raise DlibFormatError(f"unexpected alias_tensor version {ver} at offset {start}")
        return tuple(self.int64() for _ in range(4))


# --------------------------------------------------------------------------------------
# layer records
# --------------------------------------------------------------------------------------


@dataclass
class Layer:
    """One node of the network, in input -> output order.

    type: 'input_rgb_image_sized', 'input_rgb_image_pyramid', 'con', 'fc', 'relu',
          'affine', 'bn', 'max_pool', 'avg_pool', 'add_prev', 'tag', 'skip',
          'tag_or_skip' (before resolve_tags), 'loss_metric', 'loss_mmod'.
    attrs: hyper-parameters (ints/floats/strings).
    params: numpy parameter arrays.
    """

    type: str
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    version: str = ""  # the layer's own version tag as found in the file
    wrapper_version: int = 0  # add_layer / add_tag_layer / add_skip_layer version int
    file_offset: int = 0  # where its details start in the file (-1: no details)
    # Shapes of stored runtime tensors, and a few stored scalars.
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Network:
    layers: list[Layer]  # input first, loss last
    loss: Layer
    input: Layer
    file_size: int
    consumed: int

    def body(self) -> list[Layer]:
        """Layers strictly between input and loss."""
        return [
            layer for layer in self.layers if layer is not self.loss and layer is not self.input
        ]


# --------------------------------------------------------------------------------------
# individual layer parsers (each mirrors the matching `deserialize` in dlib)
# --------------------------------------------------------------------------------------


def _read_input_layer(r: Reader) -> Layer:
    off = r.pos
    name = r.string()
    if name == "input_rgb_image_sized":
        # dlib/dnn/input.h  input_rgb_image_sized::serialize
        avg = (r.float_(), r.float_(), r.float_())
        nr = r.uint()
        nc = r.uint()
        return Layer(
            "input_rgb_image_sized",
            {"avg_red": avg[0], "avg_green": avg[1], "avg_blue": avg[2], "nr": nr, "nc": nc},
            version=name,
            file_offset=off,
        )
    if name in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        avg = (r.float_(), r.float_(), r.float_())
        attrs: dict[str, Any] = {"avg_red": avg[0], "avg_green": avg[1], "avg_blue": avg[2]}
        if name == "input_rgb_image_pyramid2":
            attrs["pyramid_padding"] = r.uint()
            attrs["pyramid_outer_padding"] = r.uint()
            attrs["pyramid_padding_source"] = "file"
        else:
            # deserialize() falls back to these defaults for the old version tag
            attrs["pyramid_padding"] = 10
            attrs["pyramid_outer_padding"] = 11
            attrs["pyramid_padding_source"] = (
                "dlib default (not stored in old 'input_rgb_image_pyramid' format)"
            )
        return Layer("input_rgb_image_pyramid", attrs, version=name, file_offset=off)
    if name == "input_rgb_image":
        avg = (r.float_(), r.float_(), r.float_())
        return Layer(
            "input_rgb_image",
            {"avg_red": avg[0], "avg_green": avg[1], "avg_blue": avg[2]},
            version=name,
            file_offset=off,
        )
    raise DlibFormatError(f"unsupported input layer '{name}' at offset {off}")


def _read_multipliers(r: Reader) -> dict[str, float]:
    """The four training-time multipliers con_, fc_ and bn_ store (unused for inference)."""
    names = ("learning_rate", "weight_decay", "bias_learning_rate", "bias_weight_decay")
    return {f"{name}_multiplier": r.float_() for name in names}


def _read_con(r: Reader, version: str, off: int) -> Layer:
    # dlib/dnn/layers.h con_::deserialize (con_4 / con_5 / con_6)
    if version not in ("con_4", "con_5", "con_6"):
        raise DlibFormatError(f"unsupported con_ version '{version}' at offset {off}")
    params = r.tensor()
    num_filters = r.int64()
    nr = r.int64()
    nc = r.int64()
    stride_y = r.int32()
    stride_x = r.int32()
    padding_y = r.int32()
    padding_x = r.int32()
    filters_shape = r.alias_tensor()
    biases_shape = r.alias_tensor()
    multipliers = _read_multipliers(r)
    use_bias = True
    use_relu = False
    if version in ("con_5", "con_6"):
        use_bias = r.bool_()
    if version == "con_6":
        use_relu = r.bool_()
    flat = params.reshape(-1)
    nfilt = int(np.prod(filters_shape))
    if filters_shape[0] != num_filters or filters_shape[2] != nr or filters_shape[3] != nc:
        raise DlibFormatError(
            f"con_ filter alias {filters_shape} inconsistent with "
            f"num_filters={num_filters} {nr}x{nc}"
        )
    expect = nfilt + (num_filters if use_bias else 0)
    if flat.size != expect:
        raise DlibFormatError(f"con_ params size {flat.size} != {expect}")
    p = {"weight": flat[:nfilt].reshape(filters_shape).copy()}  # (F, C, kh, kw)
    if use_bias:
        if int(np.prod(biases_shape)) != num_filters:
            raise DlibFormatError(f"con_ bias alias {biases_shape} != {num_filters}")
        p["bias"] = flat[nfilt : nfilt + num_filters].copy()
    return Layer(
        "con",
        {
            "num_filters": num_filters,
            "nr": nr,
            "nc": nc,
            "stride_y": stride_y,
            "stride_x": stride_x,
            "padding_y": padding_y,
            "padding_x": padding_x,
            "in_channels": filters_shape[1],
            "use_bias": use_bias,
            "use_relu": use_relu,
            **multipliers,
        },
        p,
        version=version,
        file_offset=off,
    )


def _read_fc(r: Reader, version: str, off: int) -> Layer:
    # dlib/dnn/layers.h fc_::deserialize (fc_2 / fc_3)
    if version not in ("fc_2", "fc_3"):
        raise DlibFormatError(f"unsupported fc_ version '{version}' at offset {off}")
    num_outputs = r.uint()
    num_inputs = r.uint()
    params = r.tensor()
    w_shape = r.alias_tensor()
    r.alias_tensor()
    bias_mode = r.int32()  # 0 = FC_HAS_BIAS, 1 = FC_NO_BIAS
    multipliers = _read_multipliers(r)
    use_bias = True
    if version == "fc_3":
        use_bias = r.bool_()
    has_bias = bias_mode == 0 and use_bias
    flat = params.reshape(-1)
    nw = num_inputs * num_outputs
    if int(np.prod(w_shape)) != nw:
        raise DlibFormatError(f"fc_ weight alias {w_shape} != {num_inputs}x{num_outputs}")
    expect = nw + (num_outputs if has_bias else 0)
    if flat.size != expect:
        raise DlibFormatError(f"fc_ params size {flat.size} != {expect}")
    # forward(): output = x (N x num_inputs) * W (num_inputs x num_outputs) [+ b]
    p = {"weight": flat[:nw].reshape(num_inputs, num_outputs).copy()}
    if has_bias:
        p["bias"] = flat[nw : nw + num_outputs].copy()
    return Layer(
        "fc",
        {
            "num_outputs": num_outputs,
            "num_inputs": num_inputs,
            "bias_mode": bias_mode,
            "use_bias": use_bias,
            "has_bias": has_bias,
            **multipliers,
        },
        p,
        version=version,
        file_offset=off,
    )


def _read_affine(r: Reader, version: str, off: int) -> Layer:
    # dlib/dnn/layers.h affine_::deserialize ("affine_" / "affine_2")
    params = r.tensor()
    g_shape = r.alias_tensor()
    b_shape = r.alias_tensor()
    mode = r.int32()  # 0 = CONV_MODE (per channel), 1 = FC_MODE (per element)
    disabled = False
    if version == "affine_2":
        disabled = r.bool_()
    flat = params.reshape(-1)
    ng = int(np.prod(g_shape))
    p = {}
    if not disabled or flat.size:
        if flat.size != ng + int(np.prod(b_shape)):
            raise DlibFormatError(
                f"affine_ params size {flat.size} vs gamma {g_shape} beta {b_shape}"
            )
        p["gamma"] = flat[:ng].reshape(g_shape[1:]).copy()
        p["beta"] = flat[ng:].reshape(b_shape[1:]).copy()
    return Layer(
        "affine",
        {"mode": mode, "disabled": disabled, "gamma_shape": g_shape},
        p,
        version=version,
        file_offset=off,
    )


def _read_bn(r: Reader, version: str, off: int) -> Layer:
    # dlib/dnn/layers.h bn_::deserialize ("bn_con2" / "bn_fc2")
    mode = 0 if version == "bn_con2" else 1
    params = r.tensor()
    g_shape = r.alias_tensor()
    b_shape = r.alias_tensor()
    means = r.tensor()
    invstds = r.tensor()
    running_means = r.tensor()
    running_variances = r.tensor()
    num_updates = r.uint()
    window = r.uint()
    multipliers = _read_multipliers(r)
    eps = r.float_()
    flat = params.reshape(-1)
    ng = int(np.prod(g_shape))
    if flat.size != ng + int(np.prod(b_shape)):
        raise DlibFormatError("bn_ params/gamma/beta size mismatch")
    p = {
        "gamma": flat[:ng].reshape(g_shape[1:]).copy(),
        "beta": flat[ng:].reshape(b_shape[1:]).copy(),
        "running_mean": running_means.reshape(g_shape[1:]).copy(),
        "running_var": running_variances.reshape(g_shape[1:]).copy(),
    }
    return Layer(
        "bn",
        {
            "mode": mode,
            "eps": eps,
            "num_updates": num_updates,
            "running_stats_window_size": window,
            "gamma_shape": g_shape,
            **multipliers,
        },
        p,
        version=version,
        file_offset=off,
        state={"means": means.shape, "invstds": invstds.shape},
    )


def _read_pool(r: Reader, version: str, off: int, kind: str) -> Layer:
    # dlib/dnn/layers.h max_pool_/avg_pool_::deserialize ("max_pool_2"/"avg_pool_2")
    nr = r.int64()
    nc = r.int64()
    sy = r.int32()
    sx = r.int32()
    py = r.int32()
    px = r.int32()
    return Layer(
        kind,
        {"nr": nr, "nc": nc, "stride_y": sy, "stride_x": sx, "padding_y": py, "padding_x": px},
        version=version,
        file_offset=off,
    )


def _read_layer_details(r: Reader) -> Layer:
    off = r.pos
    version = r.string()
    if version.startswith("con_"):
        return _read_con(r, version, off)
    if version in ("fc_2", "fc_3"):
        return _read_fc(r, version, off)
    if version == "relu_":
        return Layer("relu", version=version, file_offset=off)
    if version in ("affine_", "affine_2"):
        return _read_affine(r, version, off)
    if version in ("bn_con2", "bn_fc2"):
        return _read_bn(r, version, off)
    if version == "max_pool_2":
        return _read_pool(r, version, off, "max_pool")
    if version == "avg_pool_2":
        return _read_pool(r, version, off, "avg_pool")
    if version == "add_prev_":
        # the tag id is a template parameter and is NOT serialized
        return Layer("add_prev", {"tag": None}, version=version, file_offset=off)
    raise DlibFormatError(f"unsupported layer '{version}' at offset {off}")


def _read_test_box_overlap(r: Reader) -> dict:
    # dlib/image_processing/box_overlap_testing.h: iou_thresh, percent_covered_thresh
    return {"iou_thresh": r.float_(), "percent_covered_thresh": r.float_()}


def _read_loss(r: Reader) -> Layer:
    off = r.pos
    version = r.string()
    if version == "loss_metric_":
        return Layer(
            "loss_metric",
            {"margin": 0.1, "dist_thresh": 0.75, "note": "old format: values hard coded by dlib"},
            version=version,
            file_offset=off,
        )
    if version == "loss_metric_2":
        return Layer(
            "loss_metric",
            {"margin": r.float_(), "dist_thresh": r.float_()},
            version=version,
            file_offset=off,
        )
    if version == "loss_mmod_":
        # dlib/dnn/loss.h deserialize(mmod_options&)
        ver = r.int32()
        if not 1 <= ver <= 4:
            raise DlibFormatError(f"unexpected mmod_options version {ver}")
        opts: dict[str, Any] = {"mmod_options_version": ver}
        if ver == 1:
            w = r.uint()
            h = r.uint()
            opts["detector_windows"] = [{"width": w, "height": h, "label": ""}]
        else:

            def dwd():
                v = r.int32()
                if v not in (1, 2):
                    raise DlibFormatError(f"bad detector_window_details version {v}")
                d = {"width": r.uint(), "height": r.uint(), "label": ""}
                if v == 2:
                    d["label"] = r.string()
                return d

            opts["detector_windows"] = r.vector(dwd)
        opts["loss_per_false_alarm"] = r.float_()
        opts["loss_per_missed_target"] = r.float_()
        opts["truth_match_iou_threshold"] = r.float_()
        opts["overlaps_nms"] = _read_test_box_overlap(r)
        opts["overlaps_ignore"] = _read_test_box_overlap(r)
        opts["assume_image_pyramid"] = "yes (default, not stored)"
        opts["use_bounding_box_regression"] = "False (default, not stored)"
        opts["bbr_lambda"] = "100 (default, not stored)"
        if ver >= 3:
            opts["assume_image_pyramid"] = ["no", "yes"][r.byte()]
        if ver >= 4:
            opts["use_bounding_box_regression"] = r.bool_()
            opts["bbr_lambda"] = r.float_()
        return Layer("loss_mmod", opts, version=version, file_offset=off)
    raise DlibFormatError(f"unsupported loss layer '{version}' at offset {off}")


# --------------------------------------------------------------------------------------
# network reader
# --------------------------------------------------------------------------------------

_INPUT_NAMES = (
    "input_rgb_image_sized",
    "input_rgb_image_pyramid",
    "input_rgb_image_pyramid2",
    "input_rgb_image",
)


def read_network(path_or_bytes, strict: bool = True) -> Network:
    """Parse a serialized add_loss_layer<...> network.

    Structure (dlib/dnn/core.h):
      add_loss_layer::serialize : int 1, loss details, subnetwork
      add_layer (generic)       : int 2, subnetwork, details, bool setup_called,
                                  bool gradient_input_is_stale,
                                  bool get_output_and_gradient_input_disabled,
                                  tensor x_grad, tensor cached_output, tensor params_grad
                                  (version 1: same without params_grad)
      add_layer<L, INPUT>       : int 3 (or 2), input layer, details, 3 bools,
                                  x_grad, cached_output, grad_final,
                                  [v3: unsigned _sample_expansion_factor]
      add_tag_layer / add_skip_layer (non-input) : int 1, subnetwork  -- nothing else:
                                  the tag id / skip target is a template parameter and
                                  is NOT stored, and tag vs skip are byte-identical.
      add_tag_layer<ID, INPUT>  : int 2 (or 1), input layer, cached_output, grad_final,
                                  bool gradient_input_is_stale, [v2: unsigned sef]
    So the file is: loss, then the wrapper version ints from the outermost layer
    inwards, then the input layer, then each layer's details from the innermost
    (next to the input) outwards.  We return the layers input-first.

    Ambiguity handled here: a wrapper version of 1 is interpreted as tag/skip; a
    generic add_layer written with version 1 (very old dlib) would be misparsed, but
    then the byte accounting fails and we raise.
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    r = Reader(data)

    ver = r.int32()
    if ver != 1:
        raise DlibFormatError(f"expected add_loss_layer version 1, got {ver}")
    loss = _read_loss(r)

    # Walk down the wrapper chain.
    wrappers: list[int] = []
    while True:
        v = r.int32()
        s = r.peek_string()
        if s is not None and s in _INPUT_NAMES:
            innermost_version = v
            break
        if v not in (1, 2):
            raise DlibFormatError(f"unexpected layer wrapper version {v} at offset {r.pos}")
        wrappers.append(v)
        if len(wrappers) > 100000:
            raise DlibFormatError("runaway wrapper chain")

    layers: list[Layer] = []
    inp = _read_input_layer(r)
    # innermost: either add_layer<L, INPUT> or add_tag_layer<ID, INPUT>
    s = r.peek_string()
    if s is not None and not s.startswith("input"):
        if innermost_version not in (2, 3):
            raise DlibFormatError(f"bad add_layer<INPUT> version {innermost_version}")
        first = _read_layer_details(r)
        first.wrapper_version = innermost_version
        flags = (r.bool_(), r.bool_(), r.bool_())
        st: dict[str, Any] = {
            "x_grad": r.tensor().shape,
            "cached_output": r.tensor().shape,
            "grad_final": r.tensor().shape,
        }
        if innermost_version >= 3:
            st["sample_expansion_factor"] = r.uint()
        first.state.update(st)
        first.attrs["_flags"] = flags
        layers += [inp, first]
    else:
        if innermost_version not in (1, 2):
            raise DlibFormatError(f"bad add_tag_layer<INPUT> version {innermost_version}")
        t = Layer("tag", {"id": None}, wrapper_version=innermost_version, file_offset=-1)
        t.state = {"cached_output": r.tensor().shape, "grad_final": r.tensor().shape}
        r.bool_()
        if innermost_version >= 2:
            t.state["sample_expansion_factor"] = r.uint()
        layers += [inp, t]

    for v in reversed(wrappers):
        if v == 1:
            layers.append(Layer("tag_or_skip", {}, wrapper_version=1, file_offset=-1))
            continue
        lay = _read_layer_details(r)
        lay.wrapper_version = v
        flags = (r.bool_(), r.bool_(), r.bool_())
        st = {"x_grad": r.tensor().shape, "cached_output": r.tensor().shape}
        if v == 2:
            st["params_grad"] = r.tensor().shape
        lay.state.update(st)
        lay.attrs["_flags"] = flags
        layers.append(lay)

    layers.append(loss)
    net = Network(layers=layers, loss=loss, input=inp, file_size=len(data), consumed=r.pos)
    if strict and not r.at_end():
        raise DlibFormatError(
            f"{r.remaining()} trailing bytes after the network (consumed {r.pos} of {len(data)})"
        )
    return net


# --------------------------------------------------------------------------------------
# tag/skip resolution against a known architecture
# --------------------------------------------------------------------------------------
#
# Because tag ids, skip targets and add_prev targets are template parameters (not
# serialized), they must come from the C++ type of the network.  The templates below
# transcribe the network definitions of the two models (from dlib's
# examples/dnn_face_recognition_ex.cpp and examples/dnn_mmod_face_detection_ex.cpp),
# listed input -> output.  resolve_tags() checks the parsed layer types against them
# position by position and copies the ids over.


def face_resnet_template() -> list[str]:
    """anet_type of dnn_face_recognition_ex.cpp, input -> output."""
    out: list[str] = ["input_rgb_image_sized", "con", "affine", "relu", "max_pool"]

    def block(seq):  # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
        seq += ["con", "affine", "relu", "con", "affine"]

    def ares(seq):  # relu<add_prev1<block<tag1<SUBNET>>>>
        seq.append("tag1")
        block(seq)
        seq += ["add_prev1", "relu"]

    def ares_down(seq):  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<SUBNET>>>>>>>
        seq.append("tag1")
        block(seq)
        seq += ["tag2", "skip1", "avg_pool", "add_prev2", "relu"]

    # alevel4 = ares<32,ares<32,ares<32,SUBNET>>>
    for _ in range(3):
        ares(out)
    # alevel3 = ares<64,ares<64,ares<64,ares_down<64,SUBNET>>>>
    ares_down(out)
    for _ in range(3):
        ares(out)
    # alevel2 = ares<128,ares<128,ares_down<128,SUBNET>>>
    ares_down(out)
    for _ in range(2):
        ares(out)
    # alevel1 = ares<256,ares<256,ares_down<256,SUBNET>>>
    ares_down(out)
    for _ in range(2):
        ares(out)
    # alevel0 = ares_down<256,SUBNET>
    ares_down(out)
    out += ["avg_pool", "fc", "loss_metric"]
    return out


def mmod_template() -> list[str]:
    """net_type of dnn_mmod_face_detection_ex.cpp, input -> output (bn_con or affine)."""
    out = ["input_rgb_image_pyramid"]
    for _ in range(3):  # downsampler: 3 x relu<BN<con5d<..>>>
        out += ["con", "bn|affine", "relu"]
    for _ in range(3):  # rcon5 x3
        out += ["con", "bn|affine", "relu"]
    out += ["con", "loss_mmod"]
    return out


def resolve_tags(net: Network, template: list[str]) -> Network:
    """Assign tag/skip/add_prev ids from an architecture template; raises on mismatch."""
    if len(template) != len(net.layers):
        raise DlibFormatError(f"template has {len(template)} layers, file has {len(net.layers)}")
    for i, (want, lay) in enumerate(zip(template, net.layers, strict=False)):
        base = want.rstrip("0123456789")
        num = want[len(base) :]
        if base in ("tag", "skip"):
            if lay.type not in ("tag_or_skip", "tag"):
                raise DlibFormatError(f"layer {i}: template wants {want}, file has {lay.type}")
            if lay.type == "tag" and base == "skip":
                raise DlibFormatError(f"layer {i}: a tag directly on the input cannot be a skip")
            lay.type = base
            lay.attrs["id"] = int(num)
        elif base == "add_prev":
            if lay.type != "add_prev":
                raise DlibFormatError(f"layer {i}: template wants {want}, file has {lay.type}")
            lay.attrs["tag"] = int(num)
        else:
            allowed = want.split("|")
            if lay.type not in allowed:
                raise DlibFormatError(f"layer {i}: template wants {want}, file has {lay.type}")
    return net


def fold_bn_to_affine(lay: Layer) -> Layer:
    """What affine_(const bn_&) does (dlib/dnn/layers.h): g = gamma/sqrt(var+eps),
    b = beta - g*mean, computed in float32 like dlib's matrix<float> expressions."""
    assert lay.type == "bn"
    p = lay.params
    eps = np.float32(lay.attrs["eps"])
    g = (p["gamma"] / np.sqrt(p["running_var"] + eps)).astype(np.float32)
    b = (p["beta"] - g * p["running_mean"]).astype(np.float32)
    return Layer(
        "affine",
        {
            "mode": lay.attrs["mode"],
            "disabled": False,
            "from_bn": True,
            "gamma_shape": lay.attrs["gamma_shape"],
        },
        {"gamma": g, "beta": b},
        version=lay.version,
        file_offset=lay.file_offset,
    )
