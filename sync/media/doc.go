// Package media checks and shrinks the photos of the attachment lane, on
// the server and on the Go device alike (a device that took what the
// server refuses would keep photos that can never upload): the type from
// the bytes (never from what a device says), the image's size and decode
// cost from its header before anything is decoded (a small file can claim
// a huge image), the EXIF orientation, turning upright, scaling,
// thumbnails, and the device's downsizing before it stores a photo.
//
// It knows no database and no network: the store calls it between the
// last chunk of an upload and the transaction that stores the photo, the
// Go replica before it keeps a photo in the device's file.
package media
