// Package photo prepares photos on a device before they go into the
// attachment lane: it tells images from other files by their bytes (as
// the server does, never by a name or a type the user gives), and
// downsizes a camera's photo to schema.PhotoMaxSide as a JPEG, turned
// upright by its EXIF orientation, since the bytes are then all that
// travels (a viewer that ignored the tag would show it on its side).
package photo
