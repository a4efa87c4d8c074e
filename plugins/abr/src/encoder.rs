//! Setting an encoder's bitrate through the property and unit the element is
//! told (`bitrate-property`, `bitrate-unit`; the service takes them from its
//! encoder table). Encoders differ in the property's unit and integer type;
//! the H.264 encoders Playcast drives all take a new value while playing,
//! without starting a new group of pictures.

use gst::glib;
use gst::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitrateError {
    #[error("encoder has no property `{0}`")]
    NoProperty(String),
    #[error("bitrate property `{0}` is not an integer")]
    NotInteger(String),
}

/// Sets `property` on `encoder` to `bps` expressed in units of `unit_bps`,
/// whatever integer type the property has, clamped to its range.
pub fn set_bitrate(encoder: &gst::Element, property: &str, unit_bps: u64, bps: u64) -> Result<u64, BitrateError> {
    let pspec = encoder.find_property(property).ok_or_else(|| BitrateError::NoProperty(property.into()))?;
    let value = bps / unit_bps.max(1);
    let gvalue = if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt>() {
        (value.clamp(p.minimum() as u64, p.maximum() as u64) as u32).to_value()
    } else if let Some(p) = pspec.downcast_ref::<glib::ParamSpecInt>() {
        (value.clamp(p.minimum().max(0) as u64, p.maximum().max(0) as u64) as i32).to_value()
    } else if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt64>() {
        value.clamp(p.minimum(), p.maximum()).to_value()
    } else if let Some(p) = pspec.downcast_ref::<glib::ParamSpecInt64>() {
        (value.clamp(p.minimum().max(0) as u64, p.maximum().max(0) as u64) as i64).to_value()
    } else {
        return Err(BitrateError::NotInteger(property.into()));
    };
    encoder.set_property_from_value(property, &gvalue);
    Ok(value * unit_bps.max(1))
}

/// The bitrate an encoder is set to now, in bit/s.
pub fn get_bitrate(encoder: &gst::Element, property: &str, unit_bps: u64) -> Option<u64> {
    encoder.find_property(property)?;
    let v = encoder.property_value(property);
    let units = v
        .get::<u32>()
        .map(u64::from)
        .or_else(|_| v.get::<i32>().map(|i| i.max(0) as u64))
        .or_else(|_| v.get::<u64>())
        .or_else(|_| v.get::<i64>().map(|i| i.max(0) as u64))
        .ok()?;
    Some(units.saturating_mul(unit_bps.max(1)))
}
