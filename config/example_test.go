package config_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/sealift-dev/sealift/config"
)

// Render the install with the controller's image pulled from a mirror.
func ExampleRender() {
	out, err := config.Render(config.Options{
		Image:    "registry.example/platform/sealift:v0.3.0",
		Registry: "mirror.internal:5000/platform",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "image:") {
			fmt.Println(line)
		}
	}
	// Output:
	// image: mirror.internal:5000/platform/sealift:v0.3.0
}
