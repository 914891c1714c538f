package onnxcompress_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// A fine-tuned model says so in its metadata, with the scores of the
// weights it holds, and keeps the rewrites Compress recorded; both survive
// Save and Load.
func TestFinetuneRecordsItselfInTheModel(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	path, err := testmodels.BundledLeNetPath()
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := onnxcompress.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	student, _ := onnxcompress.Clone(teacher)
	if _, err := onnxcompress.Compress(context.Background(), student, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "svd", Target: onnxcompress.Target{Rank: 8}, Layers: []string{"/fc1/*"}}}); err != nil {
		t.Fatal(err)
	}
	train, test, err := onnxcompress.OpenSplits("/usr/share/datasets/fashion-mnist", student, onnxcompress.DataOptions{
		Mean: []float32{0.286}, Std: []float32{0.353}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := onnxcompress.Finetune(context.Background(), student, teacher, train, test, onnxcompress.FinetuneOptions{
		MaxSteps: 30, Seed: 3, EvalLimit: 200})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tuned.onnx")
	if err := onnxcompress.Save(file, student); err != nil {
		t.Fatal(err)
	}
	saved, err := onnxcompress.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, kv := range saved.Metadata {
		entries[kv.Key] = kv.Value
	}
	if entries["onnxcompress.rewrites"] == "" {
		t.Error("the rewrites Compress recorded are gone")
	}
	var rec onnxcompress.FinetuneRecord
	if err := json.Unmarshal([]byte(entries[onnxcompress.FinetuneMetadataKey]), &rec); err != nil {
		t.Fatalf("%s: %v", onnxcompress.FinetuneMetadataKey, err)
	}
	if rec.Steps != res.Steps || rec.Steps != 30 || rec.BestEpoch != res.Best.Epoch || rec.Seed != 3 ||
		rec.Trained != len(res.Trained) || rec.HoldoutAccuracy != res.Best.Holdout.Accuracy ||
		rec.StartHoldoutAccuracy != res.Epochs[0].Holdout.Accuracy ||
		rec.TestAccuracy == nil || *rec.TestAccuracy != res.Best.Test.Accuracy {
		t.Errorf("recorded %+v, the run returned steps %d, best %+v", rec, res.Steps, res.Best)
	}
}
