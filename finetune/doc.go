// Package finetune trains compressed models back towards the original.
//
// Run distils a student (the compressed model) from its teacher (the
// original, run by the runtime): each step feeds a batch to both, scores the
// student's logits with Distillation (Hinton's T²-scaled KL to the teacher's
// softened logits, mixed with cross-entropy on the labels when the data has
// them), differentiates through the student with a runtime.Tape, clips the
// global gradient norm and lets an Optimizer (SGD with momentum/Nesterov,
// Adam, AdamW) take a step at the Schedule's learning rate (warm-up, then
// cosine or step decay). The trainable set is either the initializers the
// rewrite produced (nodes whose doc_string starts with "onnxcompress:") or
// every float weight; BatchNormalization is frozen or trained on batch
// statistics. After every epoch the student is scored on a hold-out part of
// the training data (and the test split when given); the best weights end
// up in the student's initializers, names and shapes unchanged.
//
// Evaluate scores a model's top-1 accuracy on labelled data. Data loading
// lives in the dataset subpackage.
package finetune
