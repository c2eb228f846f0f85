//! Learned normal behaviour: online PCA subspaces (CCIPCA), striped per stripe of the packet
//! vector, residual profiles, residual-derived thresholds, attribution and engrams.
