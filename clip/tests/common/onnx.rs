//! Tiny ONNX models written by hand (protobuf encoded here), for packs of
//! shapes the test pack does not have: linear maps whose answers the tests
//! compute themselves.

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn key(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    fn int(mut self, field: u32, value: i64) -> Self {
        self.key(field, 0);
        self.varint(value as u64);
        self
    }

    fn bytes(mut self, field: u32, value: &[u8]) -> Self {
        self.key(field, 2);
        self.varint(value.len() as u64);
        self.0.extend_from_slice(value);
        self
    }

    fn text(self, field: u32, value: &str) -> Self {
        self.bytes(field, value.as_bytes())
    }

    fn message(self, field: u32, value: Message) -> Self {
        self.bytes(field, &value.0)
    }
}

/// ONNX element types.
pub const FLOAT: i64 = 1;
/// ONNX element types.
pub const INT32: i64 = 6;
/// ONNX element types.
pub const INT64: i64 = 7;

/// A dimension: a size, or a name for a dynamic one.
#[derive(Clone, Copy)]
pub enum Dim {
    Fixed(i64),
    Named(&'static str),
}

fn value_info(name: &str, elem_type: i64, dims: &[Dim]) -> Message {
    let mut shape = Message::default();
    for dim in dims {
        let d = match dim {
            Dim::Fixed(n) => Message::default().int(1, *n),
            Dim::Named(s) => Message::default().text(2, s),
        };
        shape = shape.message(1, d);
    }
    let tensor = Message::default().int(1, elem_type).message(2, shape);
    let kind = Message::default().message(1, tensor);
    Message::default().text(1, name).message(2, kind)
}

fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<Message>) -> Message {
    let mut node = Message::default();
    for input in inputs {
        node = node.text(1, input);
    }
    node = node.text(2, output).text(3, output).text(4, op);
    for attribute in attributes {
        node = node.message(5, attribute);
    }
    node
}

fn int_attribute(name: &str, value: i64) -> Message {
    Message::default().text(1, name).int(3, value).int(20, 2)
}

fn weights(name: &str, rows: usize, cols: usize, values: &[f32]) -> Message {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Message::default()
        .int(1, rows as i64)
        .int(1, cols as i64)
        .int(2, FLOAT)
        .text(8, name)
        .bytes(9, &raw)
}

/// A model: `input` (of `elem_type`, `[batch, dims...]`) flattened, as
/// floats, times `matrix` (`inputs × outputs`, row-major) gives
/// "embedding" `[batch, outputs]`.
pub fn linear_model(
    input: &str,
    elem_type: i64,
    batch: Dim,
    dims: &[i64],
    matrix: &[f32],
    outputs: usize,
) -> Vec<u8> {
    let inputs: usize = dims.iter().product::<i64>() as usize;
    assert_eq!(matrix.len(), inputs * outputs);
    let mut in_dims = vec![batch];
    in_dims.extend(dims.iter().map(|d| Dim::Fixed(*d)));
    let out_batch = in_dims[0];
    let graph = Message::default()
        .message(
            1,
            node(
                "Cast",
                &[input],
                "as_float",
                vec![int_attribute("to", FLOAT)],
            ),
        )
        .message(
            1,
            node(
                "Flatten",
                &["as_float"],
                "flat",
                vec![int_attribute("axis", 1)],
            ),
        )
        .message(1, node("MatMul", &["flat", "w"], "embedding", vec![]))
        .text(2, "linear")
        .message(5, weights("w", inputs, outputs, matrix))
        .message(11, value_info(input, elem_type, &in_dims))
        .message(
            12,
            value_info("embedding", FLOAT, &[out_batch, Dim::Fixed(outputs as i64)]),
        );
    let opset = Message::default().text(1, "").int(2, 13);
    Message::default()
        .int(1, 8)
        .text(2, "kiln-clip tests")
        .message(7, graph)
        .message(8, opset)
        .0
}
