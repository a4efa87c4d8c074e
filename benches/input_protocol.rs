//! The input protocol's cost: decoding a realistic mix of messages in the
//! binary format v1 against the same messages as tagged JSON (the obvious
//! alternative), and the bytes each puts on the wire. `docs/INPUT.md` quotes it.
//!
//! `cargo bench --bench input_protocol`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use playcast::input::protocol::{decode, encode, Button, Input};
use serde::{Deserialize, Serialize};

/// The JSON a text protocol would carry for the same messages.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Json {
    Key { code: u16, down: bool },
    Button { button: u8, down: bool },
    MoveAbs { x: u16, y: u16 },
    MoveRel { dx: i16, dy: i16 },
    PadAxis { pad: u8, axis: u8, value: i16 },
}

fn as_json(i: &Input) -> Json {
    match *i {
        Input::Key { code, down } => Json::Key { code, down },
        Input::Button { button, down } => Json::Button { button: button.x_number(), down },
        Input::MoveAbs { x, y } => Json::MoveAbs { x, y },
        Input::MoveRel { dx, dy } => Json::MoveRel { dx, dy },
        Input::PadAxis { pad, axis, value } => Json::PadAxis { pad, axis, value },
        _ => unreachable!("the mix holds only these"),
    }
}

/// What a second of play sends, roughly: mostly motion, some keys and axes.
fn mix() -> Vec<Input> {
    let mut m = Vec::new();
    for i in 0..100u16 {
        m.push(Input::MoveAbs { x: i * 600, y: 65535 - i * 600 });
        m.push(Input::MoveRel { dx: (i % 7) as i16 - 3, dy: (i % 5) as i16 - 2 });
        m.push(Input::PadAxis { pad: 0, axis: (i % 4) as u8, value: i as i16 * 300 - 15000 });
        if i % 10 == 0 {
            m.push(Input::Key { code: 17 + i / 10, down: i % 20 == 0 });
            m.push(Input::Button { button: Button::Left, down: i % 20 == 0 });
        }
    }
    m
}

fn bench(c: &mut Criterion) {
    let inputs = mix();
    let binary: Vec<Vec<u8>> = inputs.iter().map(encode).collect();
    let json: Vec<String> = inputs.iter().map(|i| serde_json::to_string(&as_json(i)).unwrap()).collect();
    let bytes = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    println!(
        "mean message size: binary {:.1} bytes, JSON {:.1} bytes ({} messages)",
        bytes(&binary.iter().map(Vec::len).collect::<Vec<_>>()),
        bytes(&json.iter().map(String::len).collect::<Vec<_>>()),
        inputs.len()
    );

    let mut group = c.benchmark_group("input decode, per message");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function("baseline: JSON (serde_json, tagged)", |b| {
        b.iter(|| {
            for t in &json {
                black_box(serde_json::from_str::<Json>(t).unwrap());
            }
        })
    });
    group.bench_function("playcast: binary v1", |b| {
        b.iter(|| {
            for m in &binary {
                black_box(decode(m).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
