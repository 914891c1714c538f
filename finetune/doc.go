// Package finetune trains compressed models back towards the original:
// evaluation on labelled data, and (as it grows) the gradient tape over a
// runtime session, losses, optimizers and training loops. Data loading lives
// in the dataset subpackage.
package finetune
