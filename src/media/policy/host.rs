//! The built-in refusals: elements that reach the host.

/// Elements refused unless `media.insecure_host_elements` lists them, and why.
/// Found by going through every element `gst-inspect-1.0` lists on the
/// Debian 12 build machines (GStreamer 1.22, plugins base/good/bad/ugly, libav)
/// for properties that name files, URIs, devices, descriptors, sockets or
/// shared channels.
pub const HOST_ELEMENTS: &[(&str, &str)] = &[
    // Host files by path.
    ("filesrc", "it reads any host file"),
    ("filesink", "it writes any host file"),
    ("pushfilesrc", "it reads any host file"),
    ("multifilesrc", "it reads host files named by a pattern"),
    ("multifilesink", "it writes host files named by a pattern, in the working folder when no location is set"),
    ("splitfilesrc", "it reads host files matching a wildcard"),
    ("splitmuxsrc", "it reads host files matching a glob"),
    ("splitmuxsink", "it writes host files through the filesinks it makes"),
    ("imagesequencesrc", "it reads host files named by a pattern"),
    ("giosrc", "it reads any file: URI"),
    ("giosink", "it writes any file: URI"),
    ("curlfilesink", "it writes host files through file:// URLs"),
    ("curlsftpsink", "it reads SSH keys and known_hosts from host files"),
    ("hlssink", "it writes playlists and segments to host files"),
    ("hlssink2", "it writes playlists and segments to host files"),
    ("dashsink", "it writes a manifest and segments to host files"),
    ("qtmux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("mp4mux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("3gppmux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("ismlmux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("mj2mux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("qtmoovrecover", "it reads and writes host files"),
    ("queue2", "it writes temporary host files (temp-template)"),
    ("downloadbuffer", "it writes temporary host files (temp-template)"),
    ("camerabin", "it saves captures to host files"),
    ("videocodectestsink", "it writes host files"),
    ("gdkpixbufoverlay", "it draws any host file it can read as an image into the picture"),
    ("rsvgoverlay", "it reads an SVG from any host file"),
    ("faceoverlay", "it reads an SVG from any host file"),
    ("lcms", "it reads colour profiles from host files"),
    ("fluiddec", "it reads a soundfont from any host file"),
    ("vulkanshaderspv", "it reads shaders from host files"),
    ("openni2src", "it reads recordings from host files"),
    ("sdpsrc", "it reads an SDP file from the host (sdp:///path)"),
    // Any URI, file:// included.
    ("playbin", "it opens any URI, file:// included"),
    ("playbin3", "it opens any URI, file:// included"),
    ("uridecodebin", "it opens any URI, file:// included"),
    ("uridecodebin3", "it opens any URI, file:// included"),
    ("urisourcebin", "it opens any URI, file:// included"),
    ("uritranscodebin", "it reads and writes any URI, file:// included"),
    // The service's own file descriptors.
    ("fdsrc", "it reads a file descriptor of the service (its database, sockets or standard input)"),
    ("fdsink", "it writes a file descriptor of the service (its database, sockets or logs)"),
    ("ipcpipelinesrc", "it reads and writes file descriptors of the service"),
    ("ipcpipelinesink", "it reads and writes file descriptors of the service"),
    // Shared memory and channels between pipelines.
    ("shmsrc", "it reads shared memory through a control socket at any path"),
    ("shmsink", "it writes shared memory and makes a control socket at any path"),
    ("intervideosrc", "it reads a channel shared by every pipeline of the service: another session's picture"),
    ("intervideosink", "it feeds a channel shared by every pipeline of the service"),
    ("interaudiosrc", "it reads a channel shared by every pipeline of the service: another session's sound"),
    ("interaudiosink", "it feeds a channel shared by every pipeline of the service"),
    ("intersubsrc", "it reads a channel shared by every pipeline of the service"),
    ("intersubsink", "it feeds a channel shared by every pipeline of the service"),
    // Host devices by path.
    ("fbdevsink", "it writes to a host device named by path"),
    ("v4l2sink", "it writes to a host device named by path"),
    ("dvdreadsrc", "it reads a host device named by path"),
    ("rsndvdbin", "it reads a host device named by path"),
    ("cdiocddasrc", "it reads a host device named by path"),
    ("cdparanoiasrc", "it reads a host device named by path"),
];

pub(super) fn host_reason(element: &str) -> Option<&'static str> {
    HOST_ELEMENTS.iter().find(|(n, _)| *n == element).map(|(_, why)| *why)
}
