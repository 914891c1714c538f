package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder
	_ "image/png"  // registers the PNG decoder
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// scanImageFolder lists a torchvision-style ImageFolder: one sub-folder per
// class, classes sorted by name and labelled 0, 1, …; files sorted by path.
// A folder holding images but no sub-folders is an unlabelled set (labels nil).
func scanImageFolder(root string) (files []string, labels []int64, classes []string, err error) {
	entries, err := os.ReadDir(root) // sorted by name
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		for _, e := range entries {
			if e.Type().IsRegular() && isImageFile(e.Name()) {
				files = append(files, filepath.Join(root, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, nil, nil, fmt.Errorf("%s: no class sub-folders and no .png/.jpg images", root)
		}
		return files, nil, nil, nil
	}
	for label, class := range classes {
		dir := filepath.Join(root, class)
		var found []string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() && isImageFile(d.Name()) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, err
		}
		if len(found) == 0 {
			return nil, nil, nil, fmt.Errorf("%s: class folder has no .png/.jpg images", dir)
		}
		sort.Strings(found)
		files = append(files, found...)
		for range found {
			labels = append(labels, int64(label))
		}
	}
	return files, labels, classes, nil
}

func decodeImageFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() == 0 || b.Dy() == 0 {
		return nil, fmt.Errorf("%s: empty image", path)
	}
	return img, nil
}

// imageGeometry fills in the sample shape an image folder is loaded at:
// what opts ask for, the rest taken from the first image (its size, and one
// channel if it is grayscale, else three).
func imageGeometry(first string, opts Options) (c, h, w int, err error) {
	c, h, w = opts.Channels, opts.Height, opts.Width
	if c != 0 && h != 0 && w != 0 {
		return c, h, w, nil
	}
	img, err := decodeImageFile(first)
	if err != nil {
		return 0, 0, 0, err
	}
	if c == 0 {
		c = 3
		switch img.(type) {
		case *image.Gray, *image.Gray16:
			c = 1
		}
	}
	if h == 0 {
		h = img.Bounds().Dy()
	}
	if w == 0 {
		w = img.Bounds().Dx()
	}
	return c, h, w, nil
}

// loadImages decodes files into one C×H×W uint8 sample each, in parallel;
// every sample has its own slot, so the result does not depend on scheduling.
func loadImages(files []string, c, h, w, shorter int) ([]uint8, error) {
	sample := c * h * w
	data := make([]uint8, len(files)*sample)
	errs := make([]error, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(files) {
					return
				}
				errs[k] = loadImage(files[k], c, h, w, shorter, data[k*sample:(k+1)*sample])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return data, nil
}

func loadImage(path string, c, h, w, shorter int, dst []uint8) error {
	img, err := decodeImageFile(path)
	if err != nil {
		return err
	}
	p := toPlanar(img, c)
	nh, nw, err := resizedSize(p.h, p.w, h, w, shorter)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	resizeCrop(p, nh, nw, h, w, dst)
	return nil
}
