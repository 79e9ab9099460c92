// Package media checks and shrinks the photos of the attachment lane on
// the server: the type from the bytes (never from what a device says),
// the image's size from its header before anything is decoded (a small
// file can claim a huge image), the EXIF orientation, and thumbnails.
//
// It knows no database and no network: the store calls it between the
// last chunk of an upload and the transaction that stores the photo.
package media
